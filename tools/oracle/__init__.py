"""The real-kernel oracle: boot Debian kernels under QEMU TCG with chosen CPU identities, capture
what the kernel decided, and turn each capture into a `root` snapshot for vmscape_facts.

    from tools.oracle import boot, capture, snapshot, kernels, profiles
"""
