package org.mmunotifier.simulator.driver;

import java.util.concurrent.atomic.AtomicInteger;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.Op;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.check.Inject;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.Process;

/**
 * An accelerator driver unloaded in the middle of a run, the module-exit pattern of sgi-gru:
 * attaches with {@code getLocked} (holding the mmap write lock itself, as the gru fault path
 * does), and on unload stops new attaches, puts every reference it holds, calls
 * {@code synchronize()} and only then counts as unloaded. From then on none of its callbacks, nor
 * its {@code freeNotifier}, may run: the checker flags any that does.
 *
 * <p>Fault injection: {@link Inject#UNLOAD_WITHOUT_PUT} forgets its references instead of
 * putting them.
 */
public final class AccelDriver extends SecondaryMmu {
    /*
     * Unload against open: open increments opening, then reads unloading; unload writes unloading,
     * then waits for opening to drain. Both are sequentially consistent, so an open either sees
     * unloading (and backs off) or is waited for (and its handle is in `open` when unload scans).
     */
    private final AtomicInteger opening = new AtomicInteger();
    /** Closes between leaving the open set and finishing their put; unload waits for 0. */
    private final AtomicInteger closing = new AtomicInteger();
    private volatile boolean unloading;
    private volatile boolean unloaded;

    private final MmuNotifierOps<MirrorNotifier> ops = new MmuNotifierOps<>() {
        @Override
        public MirrorNotifier allocNotifier(MmStruct mm) {
            Process p = kernel.processOf(mm);
            if (p == null) {
                throw new IllegalStateException("accel: no process for " + mm);
            }
            allocated.increment();
            return new MirrorNotifier(AccelDriver.this, p);
        }

        @Override
        public void freeNotifier(MirrorNotifier mn) {
            if (unloaded) {
                checker.violation(Checker.Kind.CALLBACK_AFTER_UNLOAD, () -> "accel freeNotifier on " + mn.process + " after unload");
            }
            mn.freeDeferred();
        }

        @Override
        public boolean invalidateRangeStart(MirrorNotifier mn, MmuNotifierRange range) {
            return mn.invalidateStart(range);
        }

        @Override
        public void invalidateRangeEnd(MirrorNotifier mn, MmuNotifierRange range) {
            mn.invalidateEnd(range);
        }

        @Override
        public void release(MirrorNotifier mn, MmStruct mm) {
            long t0 = System.nanoTime();
            mn.release();
            recordShared(Stats.Latency.RELEASE, System.nanoTime() - t0);
        }
    };

    private final Inject inject;

    public AccelDriver(Kernel kernel, Inject inject) {
        super("accel", kernel);
        this.inject = inject;
    }

    @Override
    public boolean unloaded() {
        return unloaded;
    }

    /** @return true once {@link #unload} has started */
    public boolean unloading() {
        return unloading;
    }

    /** Attaches to a process: one getLocked under the mmap write lock. */
    @Override
    public Handle open(Process p, Stats st) {
        opening.incrementAndGet();
        try {
            if (unloading) {
                return null;
            }
            MirrorNotifier mn;
            p.rmapLock.writeLock().lock();
            try {
                p.mm.mmapWriteLock();
                try {
                    long t0 = System.nanoTime();
                    mn = MmuNotifiers.getLocked(ops, p.mm);
                    gets.increment();
                    st.record(Stats.Latency.GET, System.nanoTime() - t0);
                } finally {
                    p.mm.mmapWriteUnlock();
                }
            } finally {
                p.rmapLock.writeLock().unlock();
            }
            mn.contexts++;
            return track(new Handle(this, p, mn));
        } finally {
            opening.decrementAndGet();
        }
    }

    /**
     * Detaches: one put. The close is counted in {@code closing} from before it leaves the
     * {@code open} set until its put is done, so that {@link #unload} (which puts only what is
     * still in {@code open}) waits for it before its {@code synchronize()}: otherwise a close
     * blocked on the files lock could put after the unload, and the notifier would take
     * callbacks after "unloaded" (as a real module pins itself for every open file).
     */
    @Override
    public void close(Handle h, Stats st) {
        closing.incrementAndGet();
        try {
            if (!untrack(h)) {
                return;
            }
            MirrorNotifier mn = (MirrorNotifier) h.notifier;
            h.process.withFilesLock(() -> {
                if (--mn.contexts == 0) {
                    mn.shutDown();
                }
                mn.markPut();
                long t0 = System.nanoTime();
                MmuNotifiers.put(mn);
                puts.increment();
                st.record(Stats.Latency.PUT, System.nanoTime() - t0);
            });
        } finally {
            closing.decrementAndGet();
        }
    }

    @Override
    public boolean access(Handle h, int vpage, boolean write, Stats st) {
        if (unloading) {
            return false;
        }
        return ((MirrorNotifier) h.notifier).access(vpage, write, st);
    }

    /**
     * Module exit: refuse new attaches, put every reference, {@code synchronize()}; afterwards no
     * callback of this driver may run.
     *
     * <p><b>Context:</b> no lock held; blocks for a grace period.
     */
    public void unload(Stats st) {
        unloading = true;
        while (opening.get() != 0) {
            Thread.onSpinWait();
        }
        for (Handle h : open.toArray(new Handle[0])) {
            if (inject == Inject.UNLOAD_WITHOUT_PUT) {
                // The injected bug: forget the reference instead of putting it.
                if (h.tryClose()) {
                    open.remove(h);
                }
            } else {
                close(h, st);
            }
        }
        while (closing.get() != 0) { // a close racing the loop above must finish its put first
            Thread.onSpinWait();
        }
        long t0 = System.nanoTime();
        MmuNotifiers.synchronize();
        st.record(Stats.Latency.SYNCHRONIZE, System.nanoTime() - t0);
        unloaded = true;
        st.count(Op.UNLOAD);
    }
}
