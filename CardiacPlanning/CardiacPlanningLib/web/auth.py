"""Login, the review seat and the HTTP gate of the browser front end.

One server process has one *seat*: the trame state (case list, views, images) is shared by every
browser tab connected to the process, so exactly one logged-in session owns it at a time. Another
user's login is refused while the seat is held (it frees on logout or idle timeout); the same user
logging in again takes the seat over (the old cookie stops working). Hospitals run one ``serve``
process per review seat.

The gate (:func:`gate_middleware`) lets nothing through without the seat's session cookie except
the login page: no trame page, no script, no websocket, no download. The cookie is random (256 bit),
``HttpOnly``, ``SameSite=Strict``, and ``Secure`` under TLS. Logins, failures, lockouts, logouts
and timeouts are audited by :class:`~CardiacPlanningLib.security.users.UserDB` itself.
"""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from ..security.errors import AuthenticationError, SecurityError, SessionExpired
from ..security.guard import SessionGuard
from ..security.sessions import Session
from ..security.workstation import Workstation
from ..store.store import CaseStore

logger = logging.getLogger(__name__)

COOKIE = "cp_session"
SEAT_KEY = web.RequestKey("seat", object)  # request[SEAT_KEY]: the Seat the gate let through
PUBLIC_PATHS = frozenset({"/login", "/favicon.ico"})
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Seat:
    """The logged-in session that owns the review state, with its guard and guarded store."""

    token: str
    session: Session
    guard: SessionGuard
    store: CaseStore
    data: dict = field(default_factory=dict)  # per-seat scratch space for features
    sockets: list = field(default_factory=list)  # the websocket requests of this seat

    def close_sockets(self) -> None:
        """Drop this seat's websocket connections (the page then shows the login)."""
        for request in self.sockets:
            transport = request.transport
            if transport is not None:
                transport.close()
        self.sockets = []

    @property
    def username(self) -> str:
        return self.session.username

    @property
    def role_names(self) -> str:
        return self.session.role_names


class SeatManager:
    """Logs users in through the workstation's :class:`UserDB` and keeps the one active seat."""

    def __init__(self, workstation: Workstation) -> None:
        self.ws = workstation
        self.seat: Seat | None = None
        self.on_seat_ended: list[Callable[[Seat, str], None]] = []
        self.on_seat_started: list[Callable[[Seat], None]] = []

    def login(self, username: str, password: str, totp_code: str | None = None) -> Seat:
        """Check the credentials (lockout and audit by UserDB) and hand the seat to the user."""
        self.expire_if_idle()
        if self.seat is not None and self.seat.username != username:
            raise SecurityError(
                "this review station is in use by another user; it frees when they log out "
                "or after the idle timeout"
            )
        session = self.ws.login(username, password, totp_code or None)
        if self.seat is not None:  # the same user again: the old browser loses the seat
            self.end("replaced by a new login")
        guard = self.ws.guard(session)
        self.seat = Seat(secrets.token_urlsafe(32), session, guard, self.ws.store(session))
        for callback in self.on_seat_started:
            callback(self.seat)
        return self.seat

    def current(self, token: str | None) -> Seat | None:
        """The seat if ``token`` is its cookie and the session is alive (marks activity)."""
        seat = self.seat
        if seat is None or not token or not secrets.compare_digest(token, seat.token):
            return None
        try:
            seat.session.touch()
        except SessionExpired:
            self.end("idle timeout")
            return None
        return seat

    def touch(self) -> Seat:
        """Mark activity of the seat (from a browser action); :class:`SessionExpired` when gone."""
        seat = self.seat
        if seat is None:
            raise SessionExpired("no one is logged in: log in again")
        try:
            seat.session.touch()
        except SessionExpired:
            self.end("idle timeout")
            raise
        return seat

    def expire_if_idle(self) -> bool:
        """End the seat when its session has been idle past the timeout (audited). True if ended."""
        seat = self.seat
        if seat is None:
            return False
        s = seat.session
        if s.active and s.clock() - s.last_activity <= s.idle_timeout:
            return False
        if s.active:
            try:
                s.touch()  # raises and audits the timeout
            except SessionExpired:
                pass
        self.end("idle timeout")
        return True

    def end(self, reason: str) -> None:
        """Log the seat out (audited) and tell the listeners (they clear state, close sockets)."""
        seat, self.seat = self.seat, None
        if seat is None:
            return
        self.ws.users.logout(seat.session)
        for callback in self.on_seat_ended:
            try:
                callback(seat, reason)
            except Exception:  # a listener must not keep the seat alive
                logger.exception("seat-ended listener failed")


def login_page(message: str = "", status: int = 200, title: str = "Cardiac planning review") -> web.Response:
    """The login form (plain HTML, no script)."""
    note = f'<p class="msg" id="login-message">{html.escape(message)}</p>' if message else ""
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - login</title>
<style>body{{font-family:sans-serif;background:#1e1f22;color:#ddd;display:flex;justify-content:center}}
form{{margin-top:10vh;background:#2b2d31;padding:2em;border-radius:8px;min-width:20em}}
input{{display:block;width:100%;margin:.4em 0 1em;padding:.4em}}.msg{{color:#f88}}</style></head>
<body><form method="post" action="/login" id="login-form"><h2>{html.escape(title)}</h2>{note}
<label>User<input name="username" id="username" autocomplete="username" required></label>
<label>Password<input name="password" id="password" type="password" autocomplete="current-password"
required></label>
<label>Second-factor code (if enrolled)<input name="totp" id="totp" autocomplete="one-time-code"></label>
<button type="submit" id="login-button">Log in</button></form></body></html>"""
    return web.Response(text=body, status=status, content_type="text/html")


def add_routes(app: web.Application, seats: SeatManager, tls: bool) -> None:
    """``GET/POST /login`` and ``POST|GET /logout`` on the aiohttp ``app``."""

    async def get_login(request: web.Request) -> web.Response:
        msg = "Your session has ended; log in again." if "expired" in request.query else ""
        return login_page(msg)

    async def post_login(request: web.Request) -> web.Response:
        form = await request.post()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        try:
            seat = seats.login(username, password, str(form.get("totp", "")).strip() or None)
        except AuthenticationError as exc:  # includes AccountLocked: its message says until when
            return login_page(str(exc), status=401)
        except SecurityError as exc:
            return login_page(str(exc), status=403)
        response = web.HTTPFound("/")
        response.set_cookie(
            COOKIE, seat.token, httponly=True, samesite="Strict", secure=tls, path="/", max_age=None
        )
        raise response

    async def logout(request: web.Request) -> web.Response:
        if seats.current(request.cookies.get(COOKIE)) is not None:
            seats.end("logout")
        response = web.HTTPFound("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    app.router.add_get("/login", get_login)
    app.router.add_post("/login", post_login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/logout", logout)


def gate_middleware(seats: SeatManager, tls: bool):
    """aiohttp middleware: every path but the login page needs the seat's cookie."""

    @web.middleware
    async def gate(request: web.Request, handler):
        if request.path not in PUBLIC_PATHS:
            seat = seats.current(request.cookies.get(COOKIE))
            if seat is None:
                if request.path in ("/", "/index.html"):
                    raise web.HTTPFound("/login")
                raise web.HTTPUnauthorized(text="log in first", headers=SECURITY_HEADERS)
            request[SEAT_KEY] = seat
            if request.headers.get("Upgrade", "").lower() == "websocket":
                seat.sockets.append(request)  # closed when the seat ends
        response = await handler(request)
        if not response.prepared:
            for key, value in SECURITY_HEADERS.items():
                response.headers.setdefault(key, value)
            if tls:
                response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    return gate
