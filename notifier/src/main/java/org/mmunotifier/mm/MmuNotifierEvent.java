package org.mmunotifier.mm;

/**
 * Why an address range is being invalidated (Linux {@code enum mmu_notifier_event}). A secondary
 * MMU may use it to skip work, e.g. ignore {@link #MIGRATE} events it started itself.
 */
public enum MmuNotifierEvent {
    /** The range is being unmapped (munmap, mremap source, truncation). */
    UNMAP,
    /** Pages are being cleared from the page table, the mapping stays (madvise, page reclaim). */
    CLEAR,
    /** Protection of a whole VMA changes (mprotect); see {@link MmuNotifierRange#updateToReadOnly()}. */
    PROTECTION_VMA,
    /** Protection of individual pages changes (write-protect for COW or KSM). */
    PROTECTION_PAGE,
    /** Soft-dirty tracking is being reset. */
    SOFT_DIRTY,
    /** The address space is being torn down (exit); used by the exit path's invalidations. */
    RELEASE,
    /** Pages are migrating between memories (also to and from device memory). */
    MIGRATE,
    /** A device takes exclusive access to pages (Linux 5.14+, listed for completeness). */
    EXCLUSIVE
}
