package org.mmunotifier.simulator.kernel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.driver.Handle;
import org.mmunotifier.simulator.driver.SecondaryMmu;

/**
 * A simulated process: its {@link MmStruct}, areas, page table, and the open files through which
 * secondary MMUs are attached to it.
 *
 * <p>Pins play the part of {@code get_task_mm}/{@code mmput}: every thread that works on the
 * process pins it with {@link #tryPin()} and unpins it afterwards. The {@code MmStruct}'s users
 * count stays at one while any pin is held; the thread that drops the last pin calls
 * {@link MmStruct#mmput()}, which runs the notifiers' {@code release} and then the teardown that
 * this process installed in its mm ({@link Kernel#exitMmap}), as {@code __mmput} runs
 * {@code exit_mmap}. The task's own pin is dropped by
 * {@link Kernel#exit}.
 */
public final class Process {
    /*
     * Guards
     * ------
     *   pins            atomic; never leaves 0 once there; only unpin takes it to 0 (unpinUnlessLast
     *                   never drops the last pin)
     *   oomVictim, oomSkip, unstable   volatile flags, set once (the mm's MMF_* bits); unstable
     *                   is set before the reaper's zaps take the page-table lock, and a fault
     *                   reads it under that lock
     *   vmas            mm's mmap lock (read for faults, write for changes)
     *   table entries   table's page-table lock
     *   handles, filesClosed   filesLock (exit_files against open/close of device files)
     *   handleSnapshot  written under filesLock, read without it (volatile)
     *   (registration)  rmapLock write, against reclaim's invalidations (rmapLock read)
     */

    public final int pid;
    public final MmStruct mm;
    public final VmaList vmas;
    public final PageTable table;
    private final AtomicInteger pins = new AtomicInteger(1);
    final AtomicBoolean exiting = new AtomicBoolean();
    /** MMF_OOM_VICTIM: the OOM killer chose this process; exit_mmap reaps it once more. */
    volatile boolean oomVictim;
    /** MMF_OOM_SKIP: the OOM reaper is done with this mm (or gave up). */
    volatile boolean oomSkip;
    /** MMF_UNSTABLE: the OOM reaper has started; a fault that would fill an entry fails (SIGBUS). */
    volatile boolean unstable;
    private final AtomicBoolean tornDown = new AtomicBoolean();

    /**
     * Stands for {@code mm_take_all_locks}: reclaim (an rmap walker that holds no mmap lock)
     * holds it for read around its invalidations; registration (get, register) holds it for
     * write, so that no invalidation is in flight while a notifier is added. Lock order: files
     * lock, rmap lock, mmap lock.
     */
    public final java.util.concurrent.locks.ReentrantReadWriteLock rmapLock = new java.util.concurrent.locks.ReentrantReadWriteLock();

    private final ReentrantLock filesLock = new ReentrantLock();
    private final List<Handle> handles = new ArrayList<>();
    /** The handles as of the last change, for lock-free readers; written under filesLock. */
    private volatile Handle[] handleSnapshot = new Handle[0];
    private boolean filesClosed;

    /**
     * The worker statistics of the thread that drops the last pin, for the teardown that its
     * {@code mmput} runs on the same thread; written just before that mmput.
     */
    private Stats exitStats;

    Process(int pid, FrameAllocator frames, int pages, Kernel kernel) {
        this.pid = pid;
        // The teardown is exit_mmap's body after mmu_notifier_release: the last mmput runs it on a
        // live mm, after every release and the grace period, before the final mmdrop.
        this.mm = new MmStruct("pid " + pid, m -> {
            if (!tornDown.compareAndSet(false, true)) {
                throw new IllegalStateException("process " + pid + " torn down twice");
            }
            kernel.exitMmap(this, exitStats);
        });
        this.vmas = new VmaList(pages);
        this.table = new PageTable(frames, pages, "pid " + pid);
    }

    /** Pins the address space unless it has exited. Pair with {@link #unpin}. */
    public boolean tryPin() {
        int p;
        do {
            p = pins.get();
            if (p <= 0) {
                return false;
            }
        } while (!pins.compareAndSet(p, p + 1));
        return true;
    }

    /**
     * Drops a pin unless it is the last one: the fast path of {@link #unpin}, which a caller that
     * times the last pin's exit path takes first, so that it reads the clock only when the exit
     * may run.
     *
     * @return true if a pin was dropped; false, with nothing done, if the caller's pin is the last
     */
    public boolean unpinUnlessLast() {
        int p;
        do {
            p = pins.get();
            if (p <= 1) {
                return false;
            }
        } while (!pins.compareAndSet(p, p - 1));
        return true;
    }

    /**
     * Drops a pin; the last one runs the exit path ({@code mmput}: notifiers' release, then the
     * page-table teardown).
     *
     * <p><b>Context:</b> may block (the last one waits for a grace period); never call it with a
     * driver lock or the page-table lock held, nor from a callback.
     */
    public void unpin(Kernel kernel, Stats st) {
        if (pins.decrementAndGet() == 0) {
            exitStats = st;
            mm.mmput(); // release, unlink and grace period, the teardown (Kernel.exitMmap), mmdrop
        }
    }

    /** @return true once the address space has exited */
    boolean dead() {
        return pins.get() <= 0;
    }

    /**
     * Runs {@code open} under the files lock and records the handle it returns, unless the files
     * are closed already (the process is exiting).
     */
    public Handle open(java.util.function.Supplier<Handle> open) {
        filesLock.lock();
        try {
            if (filesClosed) {
                return null;
            }
            Handle h = open.get();
            if (h != null) {
                handles.add(h);
                handleSnapshot = handles.toArray(new Handle[0]);
            }
            return h;
        } finally {
            filesLock.unlock();
        }
    }

    /** @return the number of handles in the files table; the caller holds the files lock */
    public int handleCountLocked() {
        if (!filesLock.isHeldByCurrentThread()) {
            throw new IllegalStateException("files lock not held");
        }
        return handles.size();
    }

    /** @return whether an open handle of {@code driver} exists; the caller holds the files lock */
    public boolean hasHandleLocked(SecondaryMmu driver) {
        if (!filesLock.isHeldByCurrentThread()) {
            throw new IllegalStateException("files lock not held");
        }
        for (Handle h : handles) {
            if (h.driver == driver && !h.isClosed()) {
                return true;
            }
        }
        return false;
    }

    /** Runs {@code r} under the files lock (a driver closing a context of this process). */
    public void withFilesLock(Runnable r) {
        filesLock.lock();
        try {
            r.run();
        } finally {
            filesLock.unlock();
        }
    }

    /**
     * Removes and returns a random open handle, or null. A handle of a long-lived driver (a VM)
     * is taken only one time in {@code longLivedOdds}; otherwise it stays open and null is
     * returned.
     */
    public Handle takeRandomHandle(java.util.SplittableRandom rng, int longLivedOdds) {
        filesLock.lock();
        try {
            while (!handles.isEmpty()) {
                int i = rng.nextInt(handles.size());
                Handle h = handles.get(i);
                if (!h.isClosed() && h.driver.longLived() && rng.nextInt(longLivedOdds) != 0) {
                    return null;
                }
                handles.set(i, handles.get(handles.size() - 1));
                handles.remove(handles.size() - 1);
                handleSnapshot = handles.toArray(new Handle[0]);
                if (!h.isClosed()) {
                    return h;
                }
            }
            return null;
        } finally {
            filesLock.unlock();
        }
    }

    /**
     * A random open handle of {@code driver} (left open), from a snapshot of the files table
     * read without the files lock (a device submitting work through a context it has).
     *
     * @return the handle, or null if the snapshot has none of that driver
     */
    public Handle randomHandle(SecondaryMmu driver, java.util.SplittableRandom rng) {
        Handle[] snap = handleSnapshot;
        int n = snap.length;
        if (n == 0) {
            return null;
        }
        int from = rng.nextInt(n);
        for (int k = 0; k < n; k++) {
            Handle h = snap[(from + k) % n];
            if (h.driver == driver && !h.isClosed()) {
                return h;
            }
        }
        return null;
    }

    /** Closes the files for good ({@code exit_files}) and returns the handles still open. */
    List<Handle> closeFiles() {
        filesLock.lock();
        try {
            filesClosed = true;
            List<Handle> open = new ArrayList<>(handles);
            handles.clear();
            handleSnapshot = new Handle[0];
            return open;
        } finally {
            filesLock.unlock();
        }
    }

    @Override
    public String toString() {
        return "process " + pid;
    }
}
