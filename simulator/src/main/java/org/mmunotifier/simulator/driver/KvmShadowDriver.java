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
 * A KVM-like shadow page table: each VM is one notifier that is {@code register}ed when the VM is
 * created and {@code unregister}ed when it is destroyed, after which the VM is freed at once
 * (unregister waited for every callback). It implements the young callbacks, so reclaim asks it
 * whether the guest touched a page.
 */
public final class KvmShadowDriver extends SecondaryMmu {

    private final MmuNotifierOps<MirrorNotifier> ops = new MmuNotifierOps<>() {
        @Override
        public MirrorNotifier allocNotifier(MmStruct mm) {
            throw new UnsupportedOperationException("kvm registers its notifiers; it never uses get");
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
        public boolean clearFlushYoung(MirrorNotifier mn, MmStruct mm, long start, long end) {
            return mn.clearYoung(start, end);
        }

        @Override
        public boolean clearYoung(MirrorNotifier mn, MmStruct mm, long start, long end) {
            return mn.clearYoung(start, end);
        }

        @Override
        public boolean testYoung(MirrorNotifier mn, MmStruct mm, long address) {
            return mn.testYoung(address);
        }

        @Override
        public void release(MirrorNotifier mn, MmStruct mm) {
            long t0 = System.nanoTime();
            mn.release();
            recordShared(Stats.Latency.RELEASE, System.nanoTime() - t0);
        }
    };

    public KvmShadowDriver(Kernel kernel) {
        this(kernel, Inject.NONE);
    }

    public KvmShadowDriver(Kernel kernel, Inject inject) {
        super("kvm", kernel);
        this.retryCheckBeforeLock = inject == Inject.KVM_RETRY_CHECK_BEFORE_LOCK;
    }

    /** VMs live long (one per process at most): a detach event destroys one only rarely. */
    @Override
    public boolean longLived() {
        return true;
    }

    /** Creates a VM: a new notifier, registered. Called under the process's files lock. */
    @Override
    public Handle open(Process p, Stats st) {
        MirrorNotifier vm = new MirrorNotifier(ops, this, p);
        p.rmapLock.writeLock().lock();
        try {
            long t0 = System.nanoTime();
            MmuNotifiers.register(vm, p.mm);
            registers.increment();
            st.record(Stats.Latency.REGISTER, System.nanoTime() - t0);
        } finally {
            p.rmapLock.writeLock().unlock();
        }
        allocated.increment();
        return track(new Handle(this, p, vm));
    }

    /** Destroys a VM: unregister (waits for running callbacks), then free it synchronously. */
    @Override
    public void close(Handle h, Stats st) {
        if (!untrack(h)) {
            return;
        }
        long t0 = System.nanoTime();
        MmuNotifiers.unregister(h.notifier, h.process.mm);
        unregisters.increment();
        st.record(Stats.Latency.UNREGISTER, System.nanoTime() - t0);
        h.notifier.free();
    }

    @Override
    public boolean access(Handle h, int vpage, boolean write, Stats st) {
        return ((MirrorNotifier) h.notifier).access(vpage, write, st);
    }
}
