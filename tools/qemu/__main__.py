"""``python -m tools.qemu [--refresh]``: fetch QEMU 10 into the cache and make the BHI_CTRL copy."""

import sys

from tools.qemu.fetch import main

sys.exit(main())
