package org.mmunotifier.simulator.driver;

import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.PageTable;
import org.mmunotifier.simulator.kernel.Process;

/**
 * An IOMMU-like secondary TLB for shared virtual addressing: a device binds to a process (one
 * {@code get} per bond, one shared notifier per mm) and translates through a small direct-mapped
 * TLB filled by walking the primary page table. It implements {@code invalidateRange} only: the
 * primary calls it under the page-table lock right after changing entries, which is exactly when
 * the hardware TLB must be flushed; it needs no start/end bracket.
 *
 * <p>Lock order: the primary's page-table lock, then the TLB lock (the flush runs under the
 * page-table lock, so a device access takes the page-table lock first, as a page walk would).
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
            b.free();
        }

        @Override
        public void invalidateRange(Bond b, MmStruct mm, long start, long end) {
            b.enter();
            try {
                invalidations.increment();
                b.flush(Kernel.firstPage(start), Kernel.endPage(end));
            } finally {
                b.exit();
            }
        }

        @Override
        public void release(Bond b, MmStruct mm) {
            b.enter();
            try {
                releases.increment();
                b.kill();
            } finally {
                b.exit();
            }
        }
    };

    public IommuTlbDriver(Kernel kernel) {
        super("iommu", kernel);
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
            long t0 = System.nanoTime();
            MmuNotifiers.put(b);
            puts.increment();
            st.record(Stats.Latency.PUT, System.nanoTime() - t0);
        });
    }

    /**
     * A DMA access: a TLB hit is validated by the checker; a miss walks the primary page table
     * (under its lock) and fills the TLB; a walk that finds no usable entry issues a page request,
     * which faults the page in through the primary, and walks once more.
     */
    @Override
    public boolean access(Handle h, int vpage, boolean write, Stats st) {
        Bond b = (Bond) h.notifier;
        PageTable t = h.process.table;
        int slot = vpage & (TLB_ENTRIES - 1);
        for (int attempt = 0; attempt < 2; attempt++) {
            t.lock();
            try {
                b.tlbLock.lock();
                try {
                    if (b.dead) {
                        return false;
                    }
                    long e = b.entries[slot];
                    if (b.tags[slot] == vpage && (!write || Mirror.writable(e))) {
                        checker.checkAccessLocked(name, t, vpage, Mirror.frame(e), Mirror.generation(e), write);
                        accesses.increment();
                        return true;
                    }
                    int f = t.frameLocked(vpage);
                    if (f >= 0) {
                        boolean w = (t.flagsLocked(vpage) & PageTable.WRITE) != 0;
                        if (!write || w) {
                            e = Mirror.pack(f, kernel.frames.generation(f), w);
                            b.tags[slot] = vpage;
                            b.entries[slot] = e;
                            checker.checkAccessLocked(name, t, vpage, f, Mirror.generation(e), write);
                            accesses.increment();
                            return true;
                        }
                    }
                } finally {
                    b.tlbLock.unlock();
                }
            } finally {
                t.unlock();
            }
            deviceFaults.increment();
            if (kernel.faultForSecondary(h.process, vpage, write, st) == 0) {
                return false;
            }
        }
        return false;
    }
}
