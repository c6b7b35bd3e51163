package org.mmunotifier.simulator.driver;

import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Inject;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.Process;

/**
 * A GPU-like device mirror, the get/put use case: every process opens many device contexts; each
 * open is one {@code get(ops, mm)} (so all contexts of a process share one notifier and one
 * mirror, allocated by {@code allocNotifier} on the first open) and each close is one
 * {@code put}; the first open also takes a process reference that the {@code release} callback
 * puts from inside the callback (the amdkfd pattern). The mirror fills itself by faulting through the primary under the invalidation
 * sequence (see {@link Mirror}); the per-mm state is freed in {@code freeNotifier}, after a grace
 * period.
 *
 * <p>Fault injection: {@link Inject#SKIP_INVALIDATION} ignores invalidations;
 * {@link Inject#OOM_REAPER_BLOCKING} takes the mirror lock as a sleeping lock in a non-blockable
 * start;
 * {@link Inject#FREE_WITHOUT_GRACE_PERIOD} is the legacy {@code unregister_no_release} pattern:
 * the driver frees its state right after its last put instead of in {@code freeNotifier}. Two
 * flavours, by process id:
 * <ul>
 *   <li>even pids: the driver takes no process reference, so the last context close is its last
 *       put while the process lives; an invalidation that another thread (a worker or kswapd) is
 *       running on the notifier at that moment runs on freed state: the 6d7c3cde93c1 race. It
 *       needs a second thread, as that race does, and is caught by chance (often, not always);</li>
 *   <li>odd pids: the last put is the one {@code release} makes from inside the callback (the
 *       amdkfd pattern), so the free happens while that callback still runs on the state: caught
 *       deterministically at every exit, with one thread or many.</li>
 * </ul>
 */
public final class GpuMirrorDriver extends SecondaryMmu {
    private final Inject inject;

    private final MmuNotifierOps<MirrorNotifier> ops = new MmuNotifierOps<>() {
        @Override
        public MirrorNotifier allocNotifier(MmStruct mm) {
            Process p = kernel.processOf(mm);
            if (p == null) {
                throw new IllegalStateException("gpu: no process for " + mm);
            }
            allocated.increment();
            return new MirrorNotifier(GpuMirrorDriver.this, p);
        }

        @Override
        public void freeNotifier(MirrorNotifier mn) {
            if (inject == Inject.FREE_WITHOUT_GRACE_PERIOD) {
                return; // the injected bug: the last close freed the state already, without waiting
            }
            mn.freeDeferred();
        }

        @Override
        public boolean invalidateRangeStart(MirrorNotifier mn, MmuNotifierRange range) {
            if (inject == Inject.SKIP_INVALIDATION) {
                return true;
            }
            return mn.invalidateStart(range);
        }

        @Override
        public void invalidateRangeEnd(MirrorNotifier mn, MmuNotifierRange range) {
            if (inject == Inject.SKIP_INVALIDATION) {
                return;
            }
            mn.invalidateEnd(range);
        }

        @Override
        public void release(MirrorNotifier mn, MmStruct mm) {
            long t0 = System.nanoTime();
            mn.release(() -> {
                if (mn.processRef.compareAndSet(true, false)) {
                    dropRef(mn, null);
                }
            });
            recordShared(Stats.Latency.RELEASE, System.nanoTime() - t0);
        }
    };

    public GpuMirrorDriver(Kernel kernel, Inject inject) {
        super("gpu", kernel);
        this.inject = inject;
        this.blocksInNonblockableStart = inject == Inject.OOM_REAPER_BLOCKING;
    }

    /**
     * Opens a device context: one get. The first context of a notifier also takes the process
     * reference (a second get), which the release callback drops with a put from inside the
     * callback, as amdkfd does. Called under the process's files lock.
     */
    @Override
    public Handle open(Process p, Stats st) {
        MirrorNotifier mn;
        p.rmapLock.writeLock().lock();
        try {
            long t0 = System.nanoTime();
            mn = MmuNotifiers.get(ops, p.mm);
            gets.increment();
            st.record(Stats.Latency.GET, System.nanoTime() - t0);
            mn.refs.incrementAndGet();
            boolean takesProcessRef = inject != Inject.FREE_WITHOUT_GRACE_PERIOD || (p.pid & 1) == 1;
            if (takesProcessRef && mn.processRef.compareAndSet(false, true)) {
                long t1 = System.nanoTime();
                MmuNotifiers.get(ops, p.mm);
                gets.increment();
                st.record(Stats.Latency.GET, System.nanoTime() - t1);
                mn.refs.incrementAndGet();
            }
        } finally {
            p.rmapLock.writeLock().unlock();
        }
        mn.contexts++;
        return track(new Handle(this, p, mn));
    }

    /**
     * Closes a device context: one put. Never the last put while the process lives: the process
     * reference keeps the notifier linked, so the mirror stays coherent with no context open;
     * the last put comes after release has killed the mirror (B-19).
     */
    @Override
    public void close(Handle h, Stats st) {
        if (!untrack(h)) {
            return;
        }
        MirrorNotifier mn = (MirrorNotifier) h.notifier;
        h.process.withFilesLock(() -> {
            mn.contexts--;
            dropRef(mn, st);
        });
    }

    /**
     * One put. With {@link Inject#FREE_WITHOUT_GRACE_PERIOD}, the driver frees its state as soon
     * as its own count of references reaches zero, without waiting for a grace period.
     */
    private void dropRef(MirrorNotifier mn, Stats st) {
        boolean last = mn.refs.decrementAndGet() == 0;
        if (last && inject == Inject.FREE_WITHOUT_GRACE_PERIOD) {
            mn.shutDown(); // B-19's duty, done right; the bug is the free below
        }
        mn.markPut();
        long t0 = System.nanoTime();
        MmuNotifiers.put(mn);
        puts.increment();
        if (st != null) {
            st.record(Stats.Latency.PUT, System.nanoTime() - t0);
        } else { // release's put, inside the callback: no per-thread statistics there
            recordShared(Stats.Latency.PUT, System.nanoTime() - t0);
        }
        if (last && inject == Inject.FREE_WITHOUT_GRACE_PERIOD) {
            mn.free(st == null ? "release" : null); // st == null: this put is release's, made inside that callback
        }
    }

    @Override
    public boolean access(Handle h, int vpage, boolean write, Stats st) {
        return ((MirrorNotifier) h.notifier).access(vpage, write, st);
    }
}
