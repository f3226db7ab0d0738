# SPDX-License-Identifier: GPL-2.0
# The one place the kernel version is written. Debian's backports suite keeps
# only recent series; when this one is gone the scripts fall back to the newest
# linux-source-7.* and say so.
KERNEL_SERIES ?= 7.3
