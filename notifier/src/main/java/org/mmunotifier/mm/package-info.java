/**
 * Linux 5.4 MMU notifiers with the get/put registration scheme. {@link
 * org.mmunotifier.mm.MmStruct} is the address space, {@link org.mmunotifier.mm.MmuNotifier} the
 * subscription and the {@code mmu_notifier_*} functions, {@link org.mmunotifier.mm.MmuNotifierOps}
 * the callbacks, {@link org.mmunotifier.mm.MmuNotifierRange} an invalidation; and the interval
 * notifiers of Linux 5.5 ({@link org.mmunotifier.mm.MmuIntervalNotifier},
 * {@link org.mmunotifier.mm.MmuIntervalNotifierOps}), with the remove fix of 5.18. See
 * docs/kernel-mapping.md for the kernel function and behaviour behind each method.
 */
package org.mmunotifier.mm;
