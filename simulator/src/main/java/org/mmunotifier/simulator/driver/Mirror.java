package org.mmunotifier.simulator.driver;

import java.util.concurrent.locks.ReentrantLock;

/**
 * A secondary page table kept coherent with the invalidation-sequence protocol of KVM's
 * {@code mmu_notifier_seq}/{@code mmu_notifier_count} (and hmm's read_begin/read_retry).
 *
 * <p>The protocol, as a driver runs it:
 * <pre>
 * Device fault                              Invalidation (primary changes a PTE)
 * lock; s = seq; unlock
 * translate through the primary (pinned,
 *   mmap read lock, page-table lock)
 *                                           start: lock; count++; drop entries; unlock
 *                                           primary changes the PTE under its lock
 *                                           end:   lock; count--; seq++; unlock
 * lock
 * install only if count == 0 and seq == s    [Required: the stale translation is refused]
 * unlock
 * </pre>
 * A device access uses an entry only under the mirror lock and has the checker validate it there
 * (the validation reads the primary without its lock). Since an invalidation drops the entry
 * under the mirror lock before the primary touches the PTE, a coherent driver can never be
 * caught with a stale entry: the checker's clean-run verdict is deterministic.
 *
 * <p>Lock order: the primary's page-table lock, then the mirror lock (5.4 calls changePte and
 * the young callbacks under the page-table lock); the driver never takes the page-table lock.
 */
public final class Mirror {
    /*
     * Entry encoding (long)
     * ---------------------
     *   bit 0       VALID
     *   bit 1       WRITE   the device may write
     *   bit 2       YOUNG   accessed by the device since last cleared
     *   bits 3-31   frame number
     *   bits 32-63  frame generation when translated
     *
     * Guards
     * ------
     *   entries, count, seq, dead   lock
     */

    static final long VALID = 1;
    static final long WRITE = 2;
    static final long YOUNG = 4;

    final ReentrantLock lock = new ReentrantLock();
    private final long[] entries;
    private int count;
    private long seq;
    private boolean dead;

    Mirror(int pages) {
        this.entries = new long[pages];
    }

    /** @return a translation of {@code frame} at generation {@code gen}, as a valid entry */
    public static long pack(int frame, int gen, boolean write) {
        return VALID | (write ? WRITE : 0) | ((long) frame << 3) | ((long) gen << 32);
    }

    static int frame(long e) {
        return (int) ((e >>> 3) & 0x1FFF_FFFFL);
    }

    static int generation(long e) {
        return (int) (e >>> 32);
    }

    static boolean writable(long e) {
        return (e & WRITE) != 0;
    }

    // Everything below needs the lock held.

    long entryLocked(int vpage) {
        return entries[vpage];
    }

    void markYoungLocked(int vpage) {
        entries[vpage] |= YOUNG;
    }

    long seqLocked() {
        return seq;
    }

    /** @return the invalidations counted in and not yet ended ({@code mmu_notifier_count}) */
    int countLocked() {
        return count;
    }

    boolean deadLocked() {
        return dead;
    }

    /**
     * Installs a translation made after {@code snapshot} was read, unless an invalidation ran or
     * is running since.
     *
     * @return true if installed
     */
    boolean installLocked(int vpage, long entry, long snapshot) {
        if (dead || count != 0 || seq != snapshot) {
            return false;
        }
        entries[vpage] = entry;
        return true;
    }

    /**
     * The injected bug's check, made without the mirror lock: whether a fault that read
     * {@code snapshot} must retry. Racy on purpose (count and seq are guarded by the lock).
     */
    boolean retryRacy(long snapshot) {
        return dead || count != 0 || seq != snapshot;
    }

    /** The injected bug's install: no check under the lock. Mirror lock held. */
    void forceInstallLocked(int vpage, long entry) {
        if (!dead) {
            entries[vpage] = entry;
        }
    }

    /** invalidate_range_start: counts the invalidation in and drops entries of pages [from, to). */
    int startLocked(int from, int to) {
        count++;
        return dropLocked(from, to);
    }

    /**
     * invalidate_range_end: the invalidation is over; in-flight faults must retry.
     *
     * @return false if no invalidation was counted in (an end without its start)
     */
    boolean endLocked() {
        seq++;
        if (count == 0) {
            return false;
        }
        count--;
        return true;
    }

    /** Drops entries of pages [from, to) and returns how many were valid. */
    int dropLocked(int from, int to) {
        int n = 0;
        int hi = Math.min(to, entries.length);
        for (int v = Math.max(0, from); v < hi; v++) {
            if (entries[v] != 0) {
                entries[v] = 0;
                n++;
            }
        }
        return n;
    }

    /** Clears the young bits of pages [from, to); returns whether any was set. */
    boolean clearYoungLocked(int from, int to) {
        boolean young = false;
        int hi = Math.min(to, entries.length);
        for (int v = Math.max(0, from); v < hi; v++) {
            if ((entries[v] & YOUNG) != 0) {
                entries[v] &= ~YOUNG;
                young = true;
            }
        }
        return young;
    }

    boolean testYoungLocked(int vpage) {
        return vpage >= 0 && vpage < entries.length && (entries[vpage] & YOUNG) != 0;
    }

    /** release: the address space is going away; drop everything and refuse new entries. */
    void killLocked() {
        dead = true;
        dropLocked(0, entries.length);
    }
}
