package org.mmunotifier.simulator.driver;

import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Inject;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.PageTable;
import org.mmunotifier.simulator.kernel.Process;

/**
 * An IOMMU-like secondary TLB for shared virtual addressing: a device binds to a process (one
 * {@code get} per bond, one shared notifier per mm) and translates through a small direct-mapped
 * TLB filled by walking the primary page table without its lock, as an ATS device does. It
 * implements {@code invalidateRange} only: the hardware TLB must be flushed after the primary
 * changed entries and before their old frames are freed; it needs no start/end bracket.
 *
 * <p>Lock order: the primary's page-table lock, then the TLB lock (5.4 calls some flushes under
 * the page-table lock); a device access takes only the TLB lock.
 */
public final class IommuTlbDriver extends SecondaryMmu {
    static final int TLB_ENTRIES = 64;

    /** The per-mm bond: a TLB. */
    static final class Bond extends TrackedNotifier {
        /*
         * Guards: tags, entries, dead under tlbLock. tags[i] = virtual page or -1; entries[i] a
         * Mirror-encoded translation.
         */
        final ReentrantLock tlbLock = new ReentrantLock();
        final int[] tags = new int[TLB_ENTRIES];
        final long[] entries = new long[TLB_ENTRIES];
        boolean dead;
        /** Open bonds (one get each); guarded by the process's files lock. */
        int contexts;

        Bond(SecondaryMmu driver, Process process) {
            super(driver, process);
            Arrays.fill(tags, -1);
        }

        void flush(int from, int to) {
            tlbLock.lock();
            try {
                for (int i = 0; i < TLB_ENTRIES; i++) {
                    if (tags[i] >= from && tags[i] < to) {
                        tags[i] = -1;
                        entries[i] = 0;
                    }
                }
            } finally {
                tlbLock.unlock();
            }
        }

        void kill() {
            tlbLock.lock();
            try {
                dead = true;
                Arrays.fill(tags, -1);
                Arrays.fill(entries, 0);
            } finally {
                tlbLock.unlock();
            }
        }

        @Override
        void clearState() {
            kill();
        }
    }

    private final MmuNotifierOps<Bond> ops = new MmuNotifierOps<>() {
        @Override
        public Bond allocNotifier(MmStruct mm) {
            Process p = kernel.processOf(mm);
            if (p == null) {
                throw new IllegalStateException("iommu: no process for " + mm);
            }
            allocated.increment();
            return new Bond(IommuTlbDriver.this, p);
        }

        @Override
        public void freeNotifier(Bond b) {
            b.freeDeferred();
        }

        @Override
        public void invalidateRange(Bond b, MmStruct mm, long start, long end) {
            b.enter("invalidateRange", null);
            try {
                invalidations.increment();
                if (inject != Inject.IOMMU_IGNORES_INVALIDATE_RANGE) {
                    b.flush(Kernel.firstPage(start), Kernel.endPage(end));
                }
            } finally {
                b.exit("invalidateRange", null);
            }
        }

        @Override
        public void release(Bond b, MmStruct mm) {
            long t0 = System.nanoTime();
            b.enter("release", null);
            try {
                releases.increment();
                b.kill();
            } finally {
                b.exit("release", null);
            }
            recordShared(Stats.Latency.RELEASE, System.nanoTime() - t0);
        }
    };

    private final Inject inject;

    public IommuTlbDriver(Kernel kernel) {
        this(kernel, Inject.NONE);
    }

    public IommuTlbDriver(Kernel kernel, Inject inject) {
        super("iommu", kernel);
        this.inject = inject;
    }

    /** Binds a device to the process: one get. Called under the process's files lock. */
    @Override
    public Handle open(Process p, Stats st) {
        Bond b;
        p.rmapLock.writeLock().lock();
        try {
            long t0 = System.nanoTime();
            b = MmuNotifiers.get(ops, p.mm);
            gets.increment();
            st.record(Stats.Latency.GET, System.nanoTime() - t0);
        } finally {
            p.rmapLock.writeLock().unlock();
        }
        b.contexts++;
        return track(new Handle(this, p, b));
    }

    /** Unbinds: one put; the last unbind flushes the TLB for good first. */
    @Override
    public void close(Handle h, Stats st) {
        if (!untrack(h)) {
            return;
        }
        Bond b = (Bond) h.notifier;
        h.process.withFilesLock(() -> {
            if (--b.contexts == 0) {
                b.kill();
            }
            b.markPut();
            long t0 = System.nanoTime();
            MmuNotifiers.put(b);
            puts.increment();
            st.record(Stats.Latency.PUT, System.nanoTime() - t0);
        });
    }

    /**
     * A DMA access, as an ATS device makes it: a TLB hit is validated by the checker; a miss
     * walks the primary page table <em>without</em> the page-table lock (hardware reads the
     * entries as they are) and fills the TLB; a walk that finds no usable entry issues a page
     * request, which faults the page in through the primary, and walks once more.
     *
     * <p>Everything happens under the TLB lock, which the flush ({@code invalidateRange}) takes
     * too, as a hardware invalidation waits for the walks in flight: a walk that read an entry
     * before the kernel changed it is either flushed with the entry it filled, or finished before
     * the flush began. The frame it read cannot be freed meanwhile: every kernel path frees a
     * frame only after that flush.
     */
    @Override
    public boolean access(Handle h, int vpage, boolean write, Stats st) {
        Bond b = (Bond) h.notifier;
        PageTable t = h.process.table;
        int slot = vpage & (TLB_ENTRIES - 1);
        for (int attempt = 0; attempt < 2; attempt++) {
            b.tlbLock.lock();
            try {
                if (b.dead) {
                    return false;
                }
                long e = b.entries[slot];
                if (b.tags[slot] == vpage && (!write || Mirror.writable(e))) {
                    checker.checkAccess(name, t, vpage, Mirror.frame(e), Mirror.generation(e), write);
                    accesses.increment();
                    return true;
                }
                long r = t.read(vpage); // the device's own walk: no page-table lock
                if (r >= 0 && (!write || PageTable.readWritable(r))) {
                    int f = PageTable.readFrame(r);
                    e = Mirror.pack(f, kernel.frames.generation(f), PageTable.readWritable(r));
                    b.tags[slot] = vpage;
                    b.entries[slot] = e;
                    checker.checkAccess(name, t, vpage, f, Mirror.generation(e), write);
                    accesses.increment();
                    return true;
                }
            } finally {
                b.tlbLock.unlock();
            }
            deviceFaults.increment();
            if (kernel.faultForSecondary(h.process, vpage, write, st) == 0) {
                return false;
            }
        }
        return false;
    }
}
