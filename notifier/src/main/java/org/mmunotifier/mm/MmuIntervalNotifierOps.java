package org.mmunotifier.mm;

/**
 * The callback of an interval subscription (Linux {@code struct mmu_interval_notifier_ops},
 * 5.5+): called for every invalidation whose range overlaps the subscription's interval.
 *
 * <p>A typical driver (the pattern of Linux {@code lib/test_hmm.c}):
 * <pre>{@code
 * (sub, range, curSeq) -> {
 *     if (range.blockable()) {
 *         userLock.lock();
 *     } else if (!userLock.tryLock()) {
 *         return false;                  // would have to sleep on a non-blockable range
 *     }
 *     try {
 *         sub.setSeq(curSeq);            // under the user lock: readRetry sees it
 *         zapDeviceMappings(range.start(), range.end());
 *     } finally {
 *         userLock.unlock();
 *     }
 *     return true;
 * }
 * }</pre>
 */
@FunctionalInterface
public interface MmuIntervalNotifierOps {
    /**
     * The primary mappings of {@code range}, which overlaps {@code sub}'s interval, are about to
     * change: stop the device from using them. Must call {@link MmuIntervalNotifier#setSeq}
     * with {@code curSeq} under the lock that the driver's fault path holds around
     * {@link MmuIntervalNotifier#readRetry} (the "user lock"), before it returns true.
     *
     * <p><b>Context:</b> may block if and only if {@link MmuNotifierRange#blockable()}; on a
     * non-blockable range it runs in an atomic frame, where every blocking method of this library
     * throws. Must not insert or remove interval subscriptions, nor take an mmap lock.
     * <p><b>Pairing:</b> there is no end callback: the sequence protocol tells the fault path
     * when the invalidation is over ({@link MmuIntervalNotifier#readBegin()} waits for it).
     *
     * @param sub the subscription (the driver's subclass, if it inserted one)
     * @param range the invalidation; its end is exclusive
     * @param curSeq the mm's current (odd) invalidation sequence, for {@code setSeq}
     * @return true when done; false only on a non-blockable range, when the driver would have
     *     to sleep: then the invalidation fails (the caller gets false from
     *     {@link PrimaryMmu#invalidateRangeStartNonblock}). False on a blockable range is a bug,
     *     logged and ignored.
     */
    boolean invalidate(MmuIntervalNotifier sub, MmuNotifierRange range, long curSeq);
}
