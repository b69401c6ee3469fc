"""MIB names: pysnmp-mibs lookups, enum labels, user MIB dirs compiled with pysmi."""

from __future__ import annotations

from pathlib import Path

from faultd.snmp.mib import MibNames, translate

from .conftest import MIB_DIR


def test_standard_names(mib_names: MibNames) -> None:
    assert mib_names.name((1, 3, 6, 1, 6, 3, 1, 1, 5, 3)) == "IF-MIB::linkDown"
    assert mib_names.name((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2)) == "IF-MIB::ifIndex.2"
    assert mib_names.name((1, 3, 6, 1, 2, 1, 15, 0, 2)) == "BGP4-MIB::bgpBackwardTransNotification"
    assert mib_names.name((1, 3, 6, 1, 2, 1, 47, 2, 0, 1)) == "ENTITY-MIB::entConfigChange"
    assert mib_names.name((1, 3, 6, 1, 2, 1, 14, 16, 2, 2)) == "OSPF-TRAP-MIB::ospfNbrStateChange"
    assert mib_names.name((1, 3, 6, 1, 4, 1, 99998, 7)) == "SNMPv2-SMI::enterprises.99998.7"


def test_enum_labels(mib_names: MibNames) -> None:
    admin = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 5)
    assert mib_names.enum_label(admin, 1) == "up"
    assert mib_names.enum_label(admin, 2) == "down"
    assert mib_names.enum_label(admin, 99) is None
    assert mib_names.enum_label((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 5), 1) is None  # ifIndex: no enum


def test_oid_of(mib_names: MibNames) -> None:
    assert mib_names.oid_of("IF-MIB::ifDescr") == (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
    assert mib_names.oid_of("IF-MIB::ifDescr.3") == (1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 3)
    assert mib_names.oid_of(".1.3.6") == (1, 3, 6)
    assert mib_names.oid_of("NO-SUCH-MIB::x") is None


def test_translate() -> None:
    assert translate("1.3.6.1.6.3.1.1.5.4") == "IF-MIB::linkUp"
    assert translate(".1.3.6.1.2.1.1.1.0") == "SNMPv2-MIB::sysDescr.0"
    # like net-snmp: DISMAN-EVENT-MIB names the instance sysUpTime.0 itself
    assert translate("1.3.6.1.2.1.1.3.0") == "DISMAN-EVENT-MIB::sysUpTimeInstance"
    assert translate("IF-MIB::linkUp") == "IF-MIB::linkUp"


def test_user_mib_dir_is_compiled_into_the_cache(tmp_path: Path) -> None:
    names = MibNames(mib_dirs=[MIB_DIR], cache_dir=tmp_path / "mibs", modules=())
    assert names.errors == {}
    assert (tmp_path / "mibs" / "ACME-MIB.py").exists()
    assert names.name((1, 3, 6, 1, 4, 1, 99999, 2, 0, 1)) == "ACME-MIB::acmeFanFailed"
    assert names.enum_label((1, 3, 6, 1, 4, 1, 99999, 1, 1, 1, 3, 7), 2) == "degraded"
    assert translate("1.3.6.1.4.1.99999.2.0.2", mib_dirs=[MIB_DIR], cache_dir=tmp_path / "m2") == (
        "ACME-MIB::acmeFanRecovered"
    )


def test_bad_mib_files_are_reported_per_file_not_raised(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ACME-MIB.txt").write_text((MIB_DIR / "ACME-MIB.txt").read_text())
    (src / "BROKEN-MIB.txt").write_text("BROKEN-MIB DEFINITIONS ::= BEGIN\n foo OBJECT-TYPE ::=\n")
    (src / "notes.txt").write_text("not a MIB at all\n")
    (src / "NEEDS-IF-MIB.txt").write_text(
        "NEEDS-IF-MIB DEFINITIONS ::= BEGIN\nIMPORTS ifIndex FROM IF-MIB;\n"
        "x OBJECT IDENTIFIER ::= { ifIndex 99 }\nEND\n"
    )
    names = MibNames(mib_dirs=[src, tmp_path / "missing"], cache_dir=tmp_path / "mibs", modules=())
    errs = names.errors
    assert any("BROKEN-MIB" in k for k in errs), errs
    assert str(src / "notes.txt") in errs
    assert any("NEEDS-IF-MIB" in k or "NEEDS-IF-MIB" in v for k, v in errs.items()), errs
    assert str(tmp_path / "missing") in errs
    # the good module in the same directory still works
    assert names.name((1, 3, 6, 1, 4, 1, 99999, 2, 0, 1)) == "ACME-MIB::acmeFanFailed"
