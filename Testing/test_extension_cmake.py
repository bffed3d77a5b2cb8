"""Configure the extension's CMake files against a stub Slicer (our own, in this test).

The stub's ``slicerMacroBuildScriptedModule`` checks that every listed script and resource exists and
records what each module lists, so the test fails on a typo, a missing icon/.ui, or a library file that
the CardiacPlanning glob would not install. Skipped where cmake or a C++ compiler is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import MODULE_NAMES, REPOSITORY

STUB_CONFIG = """
set(Slicer_USE_FILE ${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake)
set(Slicer_EXTENSION_GENERATE_CONFIG ${CMAKE_CURRENT_LIST_DIR}/Nothing.cmake)
set(Slicer_EXTENSION_CPACK ${CMAKE_CURRENT_LIST_DIR}/Nothing.cmake)
"""

STUB_USE_FILE = """
function(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MODULE "WITH_GENERIC_TESTS;WITH_SUBDIR" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  foreach(listed IN LISTS MODULE_SCRIPTS MODULE_RESOURCES)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${listed})
      message(FATAL_ERROR "${MODULE_NAME} lists a missing file: ${listed}")
    endif()
  endforeach()
  string(REPLACE ";" "," scripts "${MODULE_SCRIPTS}")
  string(REPLACE ";" "," resources "${MODULE_RESOURCES}")
  file(APPEND ${CMAKE_BINARY_DIR}/modules.txt
    "${MODULE_NAME}|${MODULE_WITH_GENERIC_TESTS}|${scripts}|${resources}\\n")
endfunction()
function(slicer_add_python_unittest)
endfunction()
"""


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> dict[str, tuple[bool, list[str], list[str]]]:
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("cmake and a C++ compiler are needed to configure the extension")
    stub = tmp_path_factory.mktemp("slicer-stub")
    (stub / "SlicerConfig.cmake").write_text(STUB_CONFIG)
    (stub / "UseSlicer.cmake").write_text(STUB_USE_FILE)
    (stub / "Nothing.cmake").write_text("")
    build = tmp_path_factory.mktemp("build")
    result = subprocess.run(
        ["cmake", "-S", str(REPOSITORY), "-B", str(build), f"-DSlicer_DIR={stub}", "-DBUILD_TESTING=OFF"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    modules = {}
    for line in (build / "modules.txt").read_text().splitlines():
        name, generic, scripts, resources = line.split("|")
        modules[name] = (generic == "TRUE", scripts.split(","), resources.split(","))
    return modules


def test_every_module_is_built_with_generic_tests(configured):
    assert sorted(configured) == sorted(MODULE_NAMES)
    for name, (generic, scripts, resources) in configured.items():
        assert generic, name
        assert f"{name}.py" in scripts
        assert {f"Resources/Icons/{name}.png", f"Resources/UI/{name}.ui"} <= set(resources)


def test_hub_installs_every_library_file(configured):
    _generic, scripts, resources = configured["CardiacPlanning"]
    library = REPOSITORY / "CardiacPlanning"
    on_disk_py = {p.relative_to(library).as_posix() for p in (library / "CardiacPlanningLib").rglob("*.py")}
    on_disk_json = {
        p.relative_to(library).as_posix() for p in (library / "CardiacPlanningLib").rglob("*.json")
    }
    assert on_disk_py and on_disk_py <= set(scripts)
    assert "CardiacPlanningLib/labels.json" in on_disk_json and on_disk_json <= set(resources)
    assert not any(Path(s).suffix not in (".py",) for s in scripts)
