package org.mmunotifier.simulator;

import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;

/**
 * A GPU-like device mirror, the get/put use case: every process opens many device contexts; each
 * open is one {@code get(ops, mm)} (so all contexts of a process share one notifier and one
 * mirror, allocated by {@code allocNotifier} on the first open) and each close is one
 * {@code put}. The mirror fills itself by faulting through the primary under the invalidation
 * sequence (see {@link Mirror}); the per-mm state is freed in {@code freeNotifier}, after a grace
 * period.
 *
 * <p>Fault injection: {@link Inject#SKIP_INVALIDATION} ignores invalidations;
 * {@link Inject#FREE_WITHOUT_GRACE_PERIOD} frees the state at the last close, right after the
 * last put, instead of in {@code freeNotifier}.
 */
final class GpuMirrorDriver extends SecondaryMmu {
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
            if (inject == Inject.FREE_WITHOUT_GRACE_PERIOD && mn.isFreed()) {
                return; // freed already at the last close: the injected bug
            }
            mn.free();
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
            mn.release();
        }
    };

    GpuMirrorDriver(Kernel kernel, Inject inject) {
        super("gpu", kernel);
        this.inject = inject;
    }

    /** Opens a device context: one get. Called under the process's files lock. */
    @Override
    Handle open(Process p, Stats st) {
        MirrorNotifier mn;
        p.rmapLock.writeLock().lock();
        try {
            long t0 = System.nanoTime();
            mn = MmuNotifier.get(ops, p.mm);
            st.record(Stats.Latency.GET, System.nanoTime() - t0);
        } finally {
            p.rmapLock.writeLock().unlock();
        }
        mn.contexts++;
        return track(new Handle(this, p, mn));
    }

    /**
     * Closes a device context: one put. The last close shuts the mirror down first (B-19); with
     * the injected bug it frees the state right after the put instead of in freeNotifier.
     */
    @Override
    void close(Handle h, Stats st) {
        if (!untrack(h)) {
            return;
        }
        MirrorNotifier mn = (MirrorNotifier) h.notifier;
        h.process.withFilesLock(() -> {
            boolean last = --mn.contexts == 0;
            if (last && inject != Inject.FREE_WITHOUT_GRACE_PERIOD) {
                mn.shutDown();
            }
            long t0 = System.nanoTime();
            MmuNotifier.put(mn);
            st.record(Stats.Latency.PUT, System.nanoTime() - t0);
            if (last && inject == Inject.FREE_WITHOUT_GRACE_PERIOD) {
                mn.free();
            }
        });
    }

    @Override
    boolean access(Handle h, int vpage, boolean write, Stats st) {
        return ((MirrorNotifier) h.notifier).access(vpage, write, st);
    }
}
