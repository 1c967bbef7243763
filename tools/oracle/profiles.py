"""CPU profiles of the oracle (tests/data/cpu_profiles.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.oracle.cache import REPO

PROFILES_YAML = REPO / "tests" / "data" / "cpu_profiles.yaml"
QEMU_KINDS = ("7.2", "10")


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class Profile:
    id: str
    qemu: str
    cpu: str
    smp: str = "1"  # the -smp argument, e.g. "2" or "2,cores=1,threads=2"
    bhi_ctrl: bool = False
    ibpb: bool = True
    hypervisor: bool = False
    affected: str = ""

    @property
    def vcpus(self) -> int:
        return int(self.smp.split(",", 1)[0])

    @property
    def needs_bhi_qemu(self) -> bool:
        return self.qemu == "10"

    @property
    def vendor_amd_like(self) -> bool:
        return "AuthenticAMD" in self.cpu or "HygonGenuine" in self.cpu

    def qemu_args(self) -> list[str]:
        return ["-cpu", self.cpu, "-smp", self.smp]


def load_profiles(path: Path = PROFILES_YAML) -> list[Profile]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), list):
        raise ProfileError(f"{path}: expected a mapping with a 'profiles' list")
    out: list[Profile] = []
    for i, item in enumerate(data["profiles"]):
        where = f"{path}: profiles[{i}]"
        if not isinstance(item, dict) or not {"id", "qemu", "cpu"} <= set(item):
            raise ProfileError(f"{where}: needs id, qemu and cpu")
        cpu = item["cpu"]
        if isinstance(cpu, list):
            cpu = ",".join(str(c) for c in cpu)
        if not isinstance(cpu, str) or not cpu:
            raise ProfileError(f"{where}: cpu must be a string or a list of strings")
        if str(item["qemu"]) not in QEMU_KINDS:
            raise ProfileError(f"{where}: qemu must be one of {QEMU_KINDS}, not {item['qemu']!r}")
        if not str(item.get("smp", 1)).split(",", 1)[0].isdigit():
            raise ProfileError(f"{where}: smp must start with the vCPU count, not {item['smp']!r}")
        if "bhi-ctrl" in cpu and str(item["qemu"]) != "10":
            raise ProfileError(f"{where}: +bhi-ctrl needs qemu: '10'")
        out.append(
            Profile(
                id=str(item["id"]),
                qemu=str(item["qemu"]),
                cpu=cpu,
                smp=str(item.get("smp", 1)),
                bhi_ctrl=bool(item.get("bhi_ctrl", False)),
                ibpb=bool(item.get("ibpb", True)),
                hypervisor=bool(item.get("hypervisor", False)),
                affected=str(item.get("affected", "")),
            )
        )
    ids = [p.id for p in out]
    if len(ids) != len(set(ids)):
        raise ProfileError(f"{path}: duplicate profile ids")
    return out
