package org.mmunotifier.simulator.driver;

import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.PageTable;
import org.mmunotifier.simulator.kernel.Process;
import org.mmunotifier.srcu.ExecutionContext;

/**
 * A per-mm notifier that owns a {@link Mirror}, with the callback bodies and the device access
 * path that the GPU, KVM and accelerator drivers share.
 */
final class MirrorNotifier extends TrackedNotifier {
    final Mirror mirror;
    /** Open contexts on this notifier (one get each); guarded by the process's files lock. */
    int contexts;
    /** GPU driver: references it holds on this notifier (contexts plus the process reference). */
    final java.util.concurrent.atomic.AtomicInteger refs = new java.util.concurrent.atomic.AtomicInteger();
    /** GPU driver: whether the process reference (taken at the first open, dropped by release) is held. */
    final java.util.concurrent.atomic.AtomicBoolean processRef = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * The invalidation brackets this notifier has started and not yet ended, as the driver saw
     * them (a driver that ignores its starts records none); guarded by the mirror lock.
     */
    private final java.util.List<MmuNotifierRange> openBrackets = new java.util.ArrayList<>(2);

    /**
     * @return what a violation sample says of the open brackets, e.g. "open brackets on its
     *     notifier: CLEAR [0x1000, 0x2000)"; the caller holds the mirror lock
     */
    String openBracketsLocked() {
        if (openBrackets.isEmpty()) {
            return "no invalidation bracket open on its notifier";
        }
        StringBuilder b = new StringBuilder("open on its notifier: ");
        for (int i = 0; i < openBrackets.size(); i++) {
            b.append(i == 0 ? "" : ", ").append(bracket(openBrackets.get(i)));
        }
        return b.toString();
    }

    /** For {@code allocNotifier}. */
    MirrorNotifier(SecondaryMmu driver, Process process) {
        super(driver, process);
        this.mirror = new Mirror(process.table.pages());
    }

    /** For {@code register}. */
    MirrorNotifier(MmuNotifierOps<?> ops, SecondaryMmu driver, Process process) {
        super(ops, driver, process);
        this.mirror = new Mirror(process.table.pages());
    }

    @Override
    void clearState() {
        mirror.lock.lock();
        try {
            mirror.killLocked();
        } finally {
            mirror.lock.unlock();
        }
    }

    /**
     * invalidate_range_start body: count the invalidation in and drop the range's entries. The
     * mirror lock plays the driver's sleeping lock here (amdgpu's and hmm's mutex): a blockable
     * start takes it; a non-blockable one (the OOM reaper's) only tries it and refuses when it is
     * busy, as 93065ac753e4 asks of drivers.
     *
     * @return false if the range is not blockable and the mirror lock is busy (-EAGAIN)
     */
    boolean invalidateStart(MmuNotifierRange range) {
        enter("invalidateRangeStart", range);
        try {
            int from = Kernel.firstPage(range.start());
            int to = Kernel.endPage(range.end());
            if (range.blockable()) {
                mirror.lock.lock();
            } else if (driver.blocksInNonblockableStart) {
                mutexLockIgnoringTheBlockableFlag(range);
            } else if (!mirror.lock.tryLock()) {
                return false;
            }
            try {
                if (mirror.startLocked(from, to) == 0) {
                    driver.emptyInvalidations.increment();
                }
                openBrackets.add(range);
            } finally {
                mirror.lock.unlock();
            }
            driver.invalidations.increment();
            return true;
        } finally {
            exit("invalidateRangeStart", range);
        }
    }

    /**
     * The injected bug ({@code oom-reaper-blocking}): {@code mutex_lock} in a non-blockable
     * start. Its {@code might_sleep} is the library's check, which refuses a blocking call in the
     * atomic frame of a non-blockable callback; the driver reports the refusal as a violation
     * and then takes the lock anyway, as the kernel would sleep after the warning.
     */
    private void mutexLockIgnoringTheBlockableFlag(MmuNotifierRange range) {
        try {
            ExecutionContext.checkMightSleep(driver.name + " mutex_lock in invalidateRangeStart");
        } catch (IllegalStateException e) {
            driver.checker.violation(Checker.Kind.BLOCKED_IN_NONBLOCKABLE, () -> driver.name + " on " + process
                    + ", non-blockable " + range.event() + " range: " + e.getMessage());
        }
        mirror.lock.lock();
    }

    /** invalidate_range_end body. */
    void invalidateEnd(MmuNotifierRange range) {
        enter("invalidateRangeEnd", range);
        try {
            boolean balanced;
            mirror.lock.lock();
            try {
                balanced = mirror.endLocked();
                openBrackets.remove(range);
            } finally {
                mirror.lock.unlock();
            }
            if (!balanced) {
                driver.checker.violation(Checker.Kind.END_WITHOUT_START,
                        () -> driver.name + " on " + process + ": invalidateRangeEnd of " + bracket(range));
            }
        } finally {
            exit("invalidateRangeEnd", range);
        }
    }

    /** clear_young / clear_flush_young body. */
    boolean clearYoung(long start, long end) {
        enter("clearYoung", null);
        try {
            driver.youngCalls.increment();
            mirror.lock.lock();
            try {
                return mirror.clearYoungLocked(Kernel.firstPage(start), Kernel.endPage(end));
            } finally {
                mirror.lock.unlock();
            }
        } finally {
            exit("clearYoung", null);
        }
    }

    /** test_young body. */
    boolean testYoung(long address) {
        enter("testYoung", null);
        try {
            driver.youngCalls.increment();
            mirror.lock.lock();
            try {
                return mirror.testYoungLocked(Kernel.firstPage(address));
            } finally {
                mirror.lock.unlock();
            }
        } finally {
            exit("testYoung", null);
        }
    }

    /**
     * Before the last put: drop every translation and refuse new ones, since no invalidation
     * will reach this mirror once it is unlinked (the duty B-19 puts on get/put users).
     */
    void shutDown() {
        mirror.lock.lock();
        try {
            mirror.killLocked();
        } finally {
            mirror.lock.unlock();
        }
    }

    /** release body: the mm is exiting; drop every entry and refuse new ones. */
    void release() {
        release(null);
    }

    /**
     * release body with a last step that runs inside the callback after the mirror is dead (the
     * GPU driver drops its process reference there, the amdkfd pattern of putting from release).
     */
    void release(Runnable then) {
        enter("release", null);
        try {
            driver.releases.increment();
            int open;
            mirror.lock.lock();
            try {
                open = mirror.countLocked();
                mirror.killLocked();
            } finally {
                mirror.lock.unlock();
            }
            // Exit's release (no user left): no invalidation can be running on this mm, and no
            // end can come after it, so an invalidation still counted in has lost its end. (An
            // unregister's release may meet a running one: it is not checked there.)
            if (open != 0 && process.mm.users() == 0) {
                driver.checker.violation(Checker.Kind.START_WITHOUT_END, () -> driver.name + " on " + process + ": "
                        + open + " invalidation(s) counted in at their start never ended before release (the count "
                        + "stayed at " + open + ", so the retry check refused every install until the mirror died)");
            }
            if (then != null) {
                then.run();
            }
        } finally {
            exit("release", null);
        }
    }

    /**
     * A device access through the mirror, faulting the translation in through the primary on a
     * miss (see {@link Mirror} for the protocol).
     *
     * <p><b>Context:</b> the caller has pinned the process; no lock held.
     */
    boolean access(int vpage, boolean write, Stats st) {
        Kernel kernel = driver.kernel;
        PageTable table = process.table;
        for (int attempt = 0; attempt < 4; attempt++) {
            long snapshot;
            mirror.lock.lock();
            try {
                if (mirror.deadLocked()) {
                    return false;
                }
                long e = mirror.entryLocked(vpage);
                if (e != 0 && (!write || Mirror.writable(e))) {
                    mirror.markYoungLocked(vpage);
                    // Under the mirror lock, which every invalidation of the mirror takes: the
                    // check needs no page-table lock (5.4 calls changePte and the young callbacks
                    // under that lock, so taking it here would invert the lock order).
                    driver.checker.checkAccess(driver.name, table, vpage, Mirror.frame(e), Mirror.generation(e), write,
                            this::openBracketsLocked);
                    driver.accesses.increment();
                    return true;
                }
                snapshot = mirror.seqLocked();
            } finally {
                mirror.lock.unlock();
            }
            driver.deviceFaults.increment();
            long t = kernel.faultForSecondary(process, vpage, write, st);
            if (t == 0) {
                return false;
            }
            if (driver.retryCheckBeforeLock) { // the injected bug: check, then lock and install
                if (!mirror.retryRacy(snapshot)) {
                    java.util.concurrent.locks.LockSupport.parkNanos(50_000); // widens the race window
                    mirror.lock.lock();
                    try {
                        mirror.forceInstallLocked(vpage, t);
                    } finally {
                        mirror.lock.unlock();
                    }
                } else {
                    driver.retries.increment();
                }
                continue;
            }
            mirror.lock.lock();
            try {
                if (!mirror.installLocked(vpage, t, snapshot)) {
                    driver.retries.increment();
                }
            } finally {
                mirror.lock.unlock();
            }
        }
        return false;
    }
}
