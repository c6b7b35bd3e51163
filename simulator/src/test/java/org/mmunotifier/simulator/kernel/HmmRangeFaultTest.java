package org.mmunotifier.simulator.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mmunotifier.mm.MmuIntervalNotifier;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.driver.Mirror;

/** {@link Kernel#hmmRangeFault}: the snapshot, the faults it makes, -EFAULT and -EBUSY. */
class HmmRangeFaultTest {
    private final FrameAllocator frames = new FrameAllocator(4096);
    private final Stats st = new Stats();
    private Kernel kernel;
    private Process p;
    private MmuIntervalNotifier sub;
    private long invalidations;

    @BeforeEach
    void boot() {
        kernel = new Kernel(frames, new Checker(true), 256, 8);
        p = kernel.spawn(new SplittableRandom(1), st);
        sub = MmuNotifiers.insertInterval(p.mm, 0, 256L << 12, (s, range, curSeq) -> {
            s.setSeq(curSeq); // no device table: the sequence is all this test needs
            invalidations++;
            return true;
        });
    }

    @AfterEach
    void exit() {
        kernel.exit(p, st);
        sub.remove();
        MmuNotifiers.synchronize();
        assertThat(p.mm.users()).isZero();
        assertThat(p.mm.count()).isZero();
        assertThat(frames.freeFrames()).isEqualTo(frames.frames());
    }

    private long entry(int vp) {
        p.table.lock();
        try {
            int f = p.table.frameLocked(vp);
            return f < 0 ? 0 : Mirror.pack(f, frames.generation(f), (p.table.flagsLocked(vp) & PageTable.WRITE) != 0);
        } finally {
            p.table.unlock();
        }
    }

    @Test
    void snapshotsPresentEntries_andFaultsInTheMissingOnes() {
        VmaList.Vma v = kernel.mmapLength(p, 8, true, st);
        kernel.fault(p, v.start(), true, st);
        kernel.fault(p, v.start() + 1, false, st);
        long before0 = entry(v.start());
        long[] pfns = new long[8];
        int r = kernel.hmmRangeFault(p, v.start(), v.end(), false, pfns, sub, sub.readBegin(), st);
        assertThat(r).isEqualTo(Kernel.HMM_OK);
        assertThat(pfns[0]).as("a present page is snapshotted as it is").isEqualTo(before0);
        for (int i = 0; i < 8; i++) {
            assertThat(pfns[i]).as("page %d", i).isNotZero().isEqualTo(entry(v.start() + i));
        }
        assertThat(invalidations).as("filling entries raises no invalidation").isZero();
    }

    @Test
    void writeFault_breaksCopyOnWrite_isBusyOnce_thenEveryEntryIsWritable() {
        VmaList.Vma v = kernel.mmapLength(p, 4, true, st);
        for (int i = 0; i < 4; i++) {
            kernel.fault(p, v.start() + i, true, st);
        }
        Process child = kernel.fork(p, st); // the parent's entries are write-protected now
        try {
            long[] pfns = new long[4];
            long inv = invalidations;
            int r = kernel.hmmRangeFault(p, v.start(), v.end(), true, pfns, sub, sub.readBegin(), st);
            assertThat(r).as("the copy-on-write breaks invalidated the caller's own range").isEqualTo(Kernel.HMM_BUSY);
            assertThat(invalidations - inv).as("one CLEAR per page copied, all in one fault pass").isEqualTo(4);
            r = kernel.hmmRangeFault(p, v.start(), v.end(), true, pfns, sub, sub.readBegin(), st);
            assertThat(r).as("the retry finds them writable").isEqualTo(Kernel.HMM_OK);
            for (int i = 0; i < 4; i++) {
                assertThat(pfns[i] & 2L).as("the WRITE bit of Mirror's encoding").isEqualTo(2L);
                assertThat(pfns[i]).isEqualTo(entry(v.start() + i));
            }
        } finally {
            kernel.exit(child, st);
        }
    }

    @Test
    void efault_onAHole_onAWriteToAReadOnlyArea_andAfterTheOomReaper() {
        VmaList.Vma ro = kernel.mmapLength(p, 4, false, st);
        long[] pfns = new long[4];
        assertThat(kernel.hmmRangeFault(p, ro.start(), ro.end(), true, pfns, sub, sub.readBegin(), st))
                .isEqualTo(Kernel.HMM_EFAULT);
        assertThat(kernel.hmmRangeFault(p, ro.start(), ro.end(), false, pfns, sub, sub.readBegin(), st))
                .as("read of the same area").isEqualTo(Kernel.HMM_OK);
        kernel.munmapRange(p, ro.start() + 2, ro.end(), st);
        assertThat(kernel.hmmRangeFault(p, ro.start(), ro.end(), false, pfns, sub, sub.readBegin(), st))
                .as("a hole in the range").isEqualTo(Kernel.HMM_EFAULT);
        VmaList.Vma v = kernel.mmapLength(p, 2, true, st);
        p.unstable = true; // MMF_UNSTABLE: a fault that would fill an entry gets SIGBUS
        try {
            assertThat(kernel.hmmRangeFault(p, v.start(), v.end(), false, pfns, sub, sub.readBegin(), st))
                    .isEqualTo(Kernel.HMM_EFAULT);
        } finally {
            p.unstable = false;
        }
    }

    @Test
    void snapshotOnly_faultsNothing_andReportsHolesAndMissingPagesAsZero() {
        VmaList.Vma v = kernel.mmapLength(p, 4, true, st);
        kernel.fault(p, v.start(), true, st);
        kernel.munmapRange(p, v.start() + 3, v.end(), st);
        long[] pfns = new long[4];
        assertThat(kernel.hmmRangeSnapshot(p, v.start(), v.end(), pfns, sub, sub.readBegin(), st))
                .isEqualTo(Kernel.HMM_OK);
        assertThat(pfns[0]).isEqualTo(entry(v.start()));
        assertThat(pfns[1]).isZero();
        assertThat(pfns[3]).as("no area: an error entry, not an error").isZero();
        assertThat(entry(v.start() + 1)).as("nothing faulted in").isZero();
    }

    @Test
    void busy_whenAnInvalidationOfTheSubscriptionRanSinceReadBegin() {
        VmaList.Vma v = kernel.mmapLength(p, 4, true, st);
        long seq = sub.readBegin();
        kernel.madviseDontneedRange(p, v.start(), v.end(), st);
        long[] pfns = new long[4];
        assertThat(kernel.hmmRangeFault(p, v.start(), v.end(), false, pfns, sub, seq, st)).isEqualTo(Kernel.HMM_BUSY);
        assertThat(pfns).as("nothing read").containsOnly(0L);
        assertThat(kernel.hmmRangeFault(p, v.start(), v.end(), false, pfns, sub, sub.readBegin(), st))
                .as("a fresh readBegin").isEqualTo(Kernel.HMM_OK);
    }
}
