"""QEMU for the oracle and the lab: Debian's 7.2, or bookworm-backports' QEMU 10 (BHI_CTRL)."""

from tools.qemu.fetch import QemuError, qemu_binary, qemu_command_prefix, qemu_env

__all__ = ["QemuError", "qemu_binary", "qemu_command_prefix", "qemu_env"]
