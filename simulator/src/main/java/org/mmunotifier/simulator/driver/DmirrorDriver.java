package org.mmunotifier.simulator.driver;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.mmunotifier.mm.MmuIntervalNotifier;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.Process;

/**
 * The HMM mirror of Linux's {@code lib/test_hmm.c} ({@code dmirror}, 5.7+) without its
 * device-private memory: an interval-notifier client, where the other mirrors here use the list
 * notifier.
 *
 * <ul>
 *   <li><b>open</b> ({@code dmirror_fops_open} → {@code dmirror_new}): one {@link Dmirror} per
 *       device file, with one interval subscription ({@link MmuNotifiers#insertInterval}) over the
 *       whole address space, as test_hmm inserts {@code [0, ULONG_MAX & PAGE_MASK)};</li>
 *   <li><b>invalidate</b> ({@code dmirror_interval_invalidate}): the driver lock
 *       ({@code dmirror->mutex}) taken, or tried when the range is not blockable (false when it is
 *       busy); {@link MmuIntervalNotifier#setSeq}; the device table zapped over the range;</li>
 *   <li><b>fault</b> ({@code dmirror_fault} → {@code dmirror_range_fault}): readBegin, the range
 *       fault ({@link Kernel#hmmRangeFault}), the driver lock, readRetry, the install; retried on
 *       busy, at most {@link #MAX_FAULT_TRIES} times and until {@link #FAULT_TIMEOUT_NANOS} (the
 *       kernel's {@code HMM_RANGE_DEFAULT_TIMEOUT}, 1 s), then busy;</li>
 *   <li><b>read, write</b> ({@code dmirror_read}, {@code dmirror_write}): through the device
 *       table, faulting what is missing; every page used is validated by the checker under the
 *       driver lock, as the other mirrors' accesses are;</li>
 *   <li><b>snapshot</b> ({@code dmirror_snapshot}): per chunk, a temporary interval subscription,
 *       the same loop over a walk that faults nothing, and the subscription removed;</li>
 *   <li><b>close</b> ({@code dmirror_fops_release}): {@link MmuIntervalNotifier#remove()}. At exit
 *       the subscription receives the {@code RELEASE} invalidation through the tree first, and is
 *       removed when the file is closed ({@code exit_files}).</li>
 * </ul>
 * The report's "notifiers allocated" and "freed" of this driver count subscriptions inserted and
 * removed, so the end-of-run check that they balance covers them.
 */
public final class DmirrorDriver extends SecondaryMmu {
    /** Most passes of the fault loop before it gives up busy. */
    public static final int MAX_FAULT_TRIES = 16;
    /** The fault loop's timeout ({@code HMM_RANGE_DEFAULT_TIMEOUT}, 1000 ms). */
    public static final long FAULT_TIMEOUT_NANOS = 1_000_000_000L;

    /** Fault loops that gave up (tries or timeout). */
    final LongAdder timeouts = new LongAdder();
    /** The snapshots' temporary subscriptions inserted and not yet removed. */
    final LongAdder snapshotSubscriptions = new LongAdder();

    /**
     * A test seam: run in the fault path after the range fault and before the driver lock (where
     * an invalidation makes readRetry answer true), with no lock held. Null in a run.
     */
    volatile Runnable afterRangeFault;

    /** Whether each file mirrors one area (a GPU userptr buffer object) instead of the whole address space. */
    private final boolean userptr;

    public DmirrorDriver(Kernel kernel) {
        this(kernel, "dmirror", false);
    }

    private DmirrorDriver(Kernel kernel, String name, boolean userptr) {
        super(name, kernel);
        this.userptr = userptr;
    }

    /**
     * The GPU mirror's design on interval notifiers (amdgpu's userptr buffer objects since 5.5,
     * {@code amdgpu_mn_register}): each device file is one buffer object over one area of the
     * process, chosen at open, with one interval subscription over that area only; a device access
     * is to a page of that area. Side by side with {@code gpu} (one list notifier per mm, called
     * for every invalidation of the mm), the report's driver tables compare the invalidations each
     * design receives and the retries each makes.
     */
    public static DmirrorDriver userptr(Kernel kernel) {
        return new DmirrorDriver(kernel, "userptr", true);
    }

    /** Opens a device file: a new {@link Dmirror} and its interval subscription. */
    @Override
    public Handle open(Process p, Stats st) {
        int first = 0;
        int end = p.table.pages();
        if (userptr) { // the buffer object: an area picked by a number this open alone determines
            org.mmunotifier.simulator.kernel.VmaList.Vma v = p.vmas.randomUnlocked(
                    new java.util.SplittableRandom(p.pid * 0x9E37_79B9L + attaches.sum()));
            if (v == null) {
                return null;
            }
            first = v.start();
            end = v.end();
        }
        Dmirror d = new Dmirror(this, p, first, end);
        MmuNotifiers.insertInterval(d.sub, p.mm, (long) first << 12, (long) (end - first) << 12, d::invalidate);
        allocated.increment();
        return track(new Handle(this, p, null, d));
    }

    /** Closes a device file: the subscription is removed (after any ioctl in flight on it). */
    @Override
    public void close(Handle h, Stats st) {
        if (!untrack(h)) {
            return;
        }
        ((Dmirror) h.device).close();
    }

    /**
     * One device access; one read in 64 (by page number, so that a seeded run stays
     * deterministic) is a one-page snapshot instead, with its temporary subscription.
     */
    @Override
    public boolean access(Handle h, int vpage, boolean write, Stats st) {
        Dmirror d = (Dmirror) h.device;
        if (userptr) { // a page of the buffer object
            vpage = d.first + Math.floorMod(vpage, d.end - d.first);
        }
        if (!write && (vpage & 63) == 0) {
            return d.snapshot(vpage, vpage + 1, new long[1], st) == 0;
        }
        return d.access(vpage, vpage + 1, write, st).status() == 0;
    }

    /** @return the device of a handle this driver opened */
    public static Dmirror device(Handle h) {
        return (Dmirror) h.device;
    }

    /** @return the snapshots' temporary subscriptions still inserted (0 when none is running) */
    public long snapshotSubscriptionsInserted() {
        return snapshotSubscriptions.sum();
    }

    /** @return fault loops that gave up so far */
    public long timeouts() {
        return timeouts.sum();
    }

    /**
     * What a device read or write did ({@code struct hmm_dmirror_cmd}).
     *
     * @param status 0, {@link Kernel#HMM_EFAULT}, {@link Kernel#HMM_BUSY}, or {@link #CLOSED}
     * @param pages pages accessed ({@code cpages})
     * @param faults range faults made ({@code faults})
     */
    public record Result(int status, int pages, int faults) {
    }

    /** The status of an access on a closed file. */
    public static final int CLOSED = -9; // -EBADF

    /** One device file: its subscription, its lock and its device page table. */
    public static final class Dmirror {
        /*
         * Guards
         * ------
         *   table        lock (dmirror->mutex)
         *   closed       file (write to set; read to test): ioctls hold it for read, so close
         *                waits for the ones in flight, as the file's last reference would
         *   removed      volatile, set once after remove returned
         *   inCallback   atomic
         */
        final DmirrorDriver driver;
        final Process process;
        final MmuIntervalNotifier sub = new MmuIntervalNotifier();
        final ReentrantLock lock = new ReentrantLock();
        private final long[] table;
        private final ReentrantReadWriteLock file = new ReentrantReadWriteLock();
        private boolean closed;
        private volatile boolean removed;
        private final AtomicInteger inCallback = new AtomicInteger();
        final LongAdder invalidations = new LongAdder();
        final LongAdder releases = new LongAdder();
        final LongAdder retries = new LongAdder();

        /** The pages the subscription covers, {@code [first, end)}. */
        final int first;
        final int end;

        Dmirror(DmirrorDriver driver, Process process, int first, int end) {
            this.driver = driver;
            this.process = process;
            this.first = first;
            this.end = end;
            this.table = new long[process.table.pages()];
        }

        /** dmirror_interval_invalidate. */
        boolean invalidate(MmuIntervalNotifier s, MmuNotifierRange range, long curSeq) {
            long t0 = System.nanoTime();
            inCallback.incrementAndGet();
            try {
                if (removed) {
                    driver.checker.violation(Checker.Kind.CALLBACK_ON_FREED_STATE, () -> "dmirror invalidate ("
                            + TrackedNotifier.bracket(range) + ") on " + process + " after its remove returned");
                }
                if (range.blockable()) {
                    lock.lock();
                } else if (!lock.tryLock()) {
                    return false;
                }
                try {
                    s.setSeq(curSeq);
                    if (zapLocked(Kernel.firstPage(range.start()), Kernel.endPage(range.end())) == 0) {
                        driver.emptyInvalidations.increment();
                    }
                } finally {
                    lock.unlock();
                }
                invalidations.increment();
                driver.invalidations.increment();
                if (range.event() == MmuNotifierEvent.RELEASE) {
                    releases.increment();
                    driver.releases.increment(); // the report's release row: this callback, timed
                    driver.recordShared(Stats.Latency.RELEASE, System.nanoTime() - t0);
                }
                return true;
            } finally {
                inCallback.decrementAndGet();
            }
        }

        /** @return how many valid entries were dropped */
        private int zapLocked(int from, int to) {
            int n = 0;
            int hi = Math.min(to, table.length);
            for (int v = Math.max(0, from); v < hi; v++) {
                n += table[v] != 0 ? 1 : 0;
                table[v] = 0;
            }
            return n;
        }

        /** dmirror_fops_release: remove the subscription once no ioctl is in flight. */
        void close() {
            file.writeLock().lock();
            try {
                if (closed) {
                    return;
                }
                closed = true;
            } finally {
                file.writeLock().unlock();
            }
            sub.remove();
            removed = true;
            if (inCallback.get() != 0) {
                driver.checker.violation(Checker.Kind.CALLBACK_ON_FREED_STATE,
                        () -> "dmirror invalidate still running on " + process + " when its remove returned");
            }
            lock.lock();
            try {
                zapLocked(0, table.length);
            } finally {
                lock.unlock();
            }
            driver.freed.increment();
        }

        /** @return whether the subscription was removed (the file closed) */
        public boolean removed() {
            return removed;
        }

        /** @return the subscription */
        public MmuIntervalNotifier subscription() {
            return sub;
        }

        /** @return the device table's entry for {@code vpage} ({@link Mirror} encoding; 0 if none) */
        public long entry(int vpage) {
            lock.lock();
            try {
                return table[vpage];
            } finally {
                lock.unlock();
            }
        }

        /** @return whether the device table has a valid entry for {@code vpage} */
        public boolean present(int vpage) {
            return entry(vpage) != 0;
        }

        /** @return whether the device table's entry for {@code vpage} allows writes */
        public boolean writable(int vpage) {
            return Mirror.writable(entry(vpage));
        }

        /** @return the frame of the entry for {@code vpage} */
        public int frame(int vpage) {
            return Mirror.frame(entry(vpage));
        }

        /** @return valid entries in the device table */
        public int validEntries() {
            lock.lock();
            try {
                int n = 0;
                for (long e : table) {
                    n += e != 0 ? 1 : 0;
                }
                return n;
            } finally {
                lock.unlock();
            }
        }

        /** @return invalidations received; RELEASE ones; fault-loop retries */
        public long invalidations() {
            return invalidations.sum();
        }

        public long releases() {
            return releases.sum();
        }

        public long retries() {
            return retries.sum();
        }

        /** HMM_DMIRROR_READ over pages {@code [from, to)}. */
        public Result read(int from, int to, Stats st) {
            return access(from, to, false, st);
        }

        /** HMM_DMIRROR_WRITE over pages {@code [from, to)}. */
        public Result write(int from, int to, Stats st) {
            return access(from, to, true, st);
        }

        /**
         * dmirror_read / dmirror_write: uses the device table page by page, each use validated
         * by the checker under the driver lock; at the first page missing (or read-only for a
         * write) faults the rest of the range in, and goes on.
         *
         * <p><b>Context:</b> the caller has pinned the process; no lock held.
         */
        Result access(int from, int to, boolean write, Stats st) {
            file.readLock().lock();
            try {
                if (closed) {
                    return new Result(CLOSED, 0, 0);
                }
                int next = from;
                int faults = 0;
                while (true) {
                    lock.lock();
                    try {
                        while (next < to) {
                            long e = table[next];
                            if (e == 0 || (write && !Mirror.writable(e))) {
                                break;
                            }
                            driver.checker.checkAccess(driver.name, process.table, next, Mirror.frame(e),
                                    Mirror.generation(e), write, null);
                            driver.accesses.increment();
                            next++;
                        }
                    } finally {
                        lock.unlock();
                    }
                    if (next == to) {
                        return new Result(0, to - from, faults);
                    }
                    if (faults > MAX_FAULT_TRIES) { // the range keeps being zapped after each fault
                        driver.timeouts.increment();
                        return new Result(Kernel.HMM_BUSY, next - from, faults);
                    }
                    int r = fault(next, to, write, st);
                    faults++;
                    if (r != 0) {
                        return new Result(r, next - from, faults);
                    }
                }
            } finally {
                file.readLock().unlock();
            }
        }

        /** Pages per chunk of {@link #snapshot} (test_hmm's {@code pfns[64]}). */
        public static final int SNAPSHOT_CHUNK = 64;

        /**
         * HMM_DMIRROR_SNAPSHOT ({@code dmirror_snapshot}): reads the primary's entries of
         * {@code [from, to)} into {@code out} (in {@link Mirror}'s encoding; 0 for a page with
         * no area or no entry) without faulting anything in and without touching the device
         * table. Per chunk of {@link #SNAPSHOT_CHUNK} pages, a temporary interval subscription
         * over the chunk is inserted ({@code dmirror_snapshot_invalidate} sets its sequence under
         * the driver lock), the loop readBegin → snapshot walk → lock → readRetry runs, and the
         * subscription is removed, on the error path too.
         *
         * @return 0, or {@link Kernel#HMM_BUSY} when a chunk kept being invalidated
         */
        public int snapshot(int from, int to, long[] out, Stats st) {
            file.readLock().lock();
            try {
                if (closed) {
                    return CLOSED;
                }
                long[] pfns = new long[SNAPSHOT_CHUNK];
                for (int addr = from; addr < to; addr += SNAPSHOT_CHUNK) {
                    int next = Math.min(to, addr + SNAPSHOT_CHUNK);
                    MmuIntervalNotifier tmp = MmuNotifiers.insertInterval(process.mm, (long) addr << 12,
                            (long) (next - addr) << 12, (s, range, curSeq) -> {
                                if (range.blockable()) {
                                    lock.lock();
                                } else if (!lock.tryLock()) {
                                    return false;
                                }
                                try {
                                    s.setSeq(curSeq);
                                } finally {
                                    lock.unlock();
                                }
                                return true;
                            });
                    driver.snapshotSubscriptions.increment();
                    try {
                        int r = snapshotChunk(tmp, addr, next, pfns, st);
                        if (r != 0) {
                            return r;
                        }
                        System.arraycopy(pfns, 0, out, addr - from, next - addr);
                    } finally {
                        tmp.remove();
                        driver.snapshotSubscriptions.decrement();
                    }
                }
                return 0;
            } finally {
                file.readLock().unlock();
            }
        }

        /** dmirror_range_snapshot: the read loop of one chunk under its temporary subscription. */
        private int snapshotChunk(MmuIntervalNotifier tmp, int from, int to, long[] pfns, Stats st) {
            long deadline = System.nanoTime() + FAULT_TIMEOUT_NANOS;
            for (int tries = 0;; tries++) {
                if (tries >= MAX_FAULT_TRIES || System.nanoTime() - deadline > 0) {
                    driver.timeouts.increment();
                    return Kernel.HMM_BUSY;
                }
                long seq = tmp.readBegin();
                if (driver.kernel.hmmRangeSnapshot(process, from, to, pfns, tmp, seq, st) == Kernel.HMM_BUSY) {
                    retries.increment();
                    continue;
                }
                lock.lock();
                try {
                    if (tmp.readRetry(seq)) {
                        retries.increment();
                        continue;
                    }
                    // No invalidation of the chunk has begun since readBegin (it would have set the
                    // sequence under this lock), so every entry read must still be the primary's.
                    for (int vp = from; vp < to; vp++) {
                        long e = pfns[vp - from];
                        if (e != 0) {
                            driver.checker.checkAccess(driver.name, process.table, vp, Mirror.frame(e),
                                    Mirror.generation(e), false, null);
                        }
                    }
                    return 0;
                } finally {
                    lock.unlock();
                }
            }
        }

        /**
         * dmirror_fault → dmirror_range_fault: readBegin, the range fault, the lock, readRetry,
         * the install; again while busy, within the bounds.
         *
         * @return 0, {@link Kernel#HMM_EFAULT} or {@link Kernel#HMM_BUSY}
         */
        int fault(int from, int to, boolean write, Stats st) {
            driver.deviceFaults.increment();
            long deadline = System.nanoTime() + FAULT_TIMEOUT_NANOS;
            long[] pfns = new long[to - from];
            for (int tries = 0;; tries++) {
                if (tries >= MAX_FAULT_TRIES || System.nanoTime() - deadline > 0) {
                    driver.timeouts.increment();
                    return Kernel.HMM_BUSY;
                }
                long seq = sub.readBegin();
                int r = driver.kernel.hmmRangeFault(process, from, to, write, pfns, sub, seq, st);
                if (r == Kernel.HMM_BUSY) {
                    retries.increment();
                    driver.retries.increment();
                    continue;
                }
                if (r != Kernel.HMM_OK) {
                    return r;
                }
                Runnable hook = driver.afterRangeFault;
                if (hook != null) {
                    hook.run();
                }
                lock.lock();
                try {
                    if (sub.readRetry(seq)) {
                        retries.increment();
                        driver.retries.increment();
                        continue;
                    }
                    System.arraycopy(pfns, 0, table, from, to - from); // dmirror_do_fault
                    return 0;
                } finally {
                    lock.unlock();
                }
            }
        }
    }
}
