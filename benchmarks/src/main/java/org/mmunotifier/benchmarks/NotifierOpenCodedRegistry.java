package org.mmunotifier.benchmarks;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.MmuNotifiers;

/**
 * The baseline of the notifier dispatch benchmark: the per-mm registry a Java developer writes
 * without this library (see docs/benchmarks.md). One per
 * mm: a {@code ConcurrentHashMap<ops, notifier>} (one notifier per ops identity, as
 * {@link MmuNotifiers#get}) and a {@link ReentrantReadWriteLock}. Registration takes the write
 * lock; every dispatch ({@link #invalidateRangeStart}, {@link #invalidateRangeEnd}) holds the read
 * lock while it iterates the map's values, so that an unregistration (write lock) waits for
 * running callbacks before the caller may free the notifier: the lock plays the part of the
 * library's SRCU read section.
 *
 * <p>It does less than the library, deliberately, because that is what the hand-written version
 * looks like: no start/end pairing per range (a notifier registered between start and end gets
 * an end without a start), no isolation of a throwing callback (the others are skipped), no
 * non-blocking context, no deferred free. Its end calls {@code invalidateRange} and then
 * {@code invalidateRangeEnd}, as the library's end does, so both call the same callbacks.
 */
final class NotifierOpenCodedRegistry {
    /*
     * Guards
     * ------
     *   notifiers   a ConcurrentHashMap: mutated under the write lock, iterated under the read
     *               lock (the map itself would allow lock-free iteration; the read lock is there
     *               for the lifetime guarantee described above)
     */

    private final ConcurrentHashMap<MmuNotifierOps<?>, MmuNotifier> notifiers = new ConcurrentHashMap<>();
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final ReentrantReadWriteLock.ReadLock readLock = lock.readLock();

    /**
     * Registers {@code mn} under its ops.
     *
     * @throws IllegalStateException if a notifier with the same ops is already registered
     */
    void register(MmuNotifier mn) {
        lock.writeLock().lock();
        try {
            if (notifiers.putIfAbsent(mn.ops(), mn) != null) {
                throw new IllegalStateException("a notifier for " + mn.ops() + " is already registered");
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Unregisters {@code mn}; on return no dispatch is running on it. */
    void unregister(MmuNotifier mn) {
        lock.writeLock().lock();
        try {
            notifiers.remove(mn.ops(), mn);
        } finally {
            lock.writeLock().unlock();
        }
    }

    int size() {
        return notifiers.size();
    }

    void invalidateRangeStart(MmuNotifierRange range) {
        readLock.lock();
        try {
            for (MmuNotifier mn : notifiers.values()) {
                ops(mn).invalidateRangeStart(mn, range);
            }
        } finally {
            readLock.unlock();
        }
    }

    void invalidateRangeEnd(MmuNotifierRange range) {
        readLock.lock();
        try {
            for (MmuNotifier mn : notifiers.values()) {
                MmuNotifierOps<MmuNotifier> o = ops(mn);
                o.invalidateRange(mn, range.mm(), range.start(), range.end());
                o.invalidateRangeEnd(mn, range);
            }
        } finally {
            readLock.unlock();
        }
    }

    @SuppressWarnings("unchecked")
    private static MmuNotifierOps<MmuNotifier> ops(MmuNotifier mn) {
        return (MmuNotifierOps<MmuNotifier>) mn.ops();
    }
}
