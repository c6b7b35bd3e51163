package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The mmap lock behaves as the kernel's rwsem does for its owner: not recursive, no upgrade,
 * downgrade available. Each refusal leaves the lock exactly as it was.
 */
class MmapLockTest extends NotifierTestBase {

    /** Another thread can take the lock for write now: nobody holds it. */
    private static boolean freeForOthers(MmStruct mm) throws InterruptedException {
        AtomicBoolean got = new AtomicBoolean();
        Thread t = new Thread(() -> {
            if (mm.mmapReadTrylock()) {
                got.set(true);
                mm.mmapReadUnlock();
            }
        });
        t.start();
        t.join();
        return got.get();
    }

    @Test
    void writeAfterWrite_wouldSelfDeadlock_andIsRefused() throws Exception {
        MmStruct mm = new MmStruct();
        mm.mmapWriteLock();
        assertThatThrownBy(mm::mmapWriteLock).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("mmapWriteLock() on " + mm.toString().substring(0, 10))
                .hasMessageContaining("already holds the mmap lock for write")
                .hasMessageContaining("would self-deadlock");
        assertThat(mm.mmapWriteLockedByCurrentThread()).isTrue();
        mm.mmapWriteUnlock(); // one unlock frees it: the refused lock took nothing
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
        assertThat(freeForOthers(mm)).isTrue();
    }

    @Test
    void readAfterWrite_wouldSelfDeadlock_andIsRefused() throws Exception {
        MmStruct mm = new MmStruct();
        mm.mmapWriteLock();
        assertThatThrownBy(mm::mmapReadLock).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already holds the mmap lock for write")
                .hasMessageContaining("would self-deadlock");
        mm.mmapWriteUnlock();
        assertThat(freeForOthers(mm)).isTrue();
    }

    @Test
    void writeAfterRead_wouldSelfDeadlock_noUpgrade_andIsRefused() throws Exception {
        MmStruct mm = new MmStruct();
        mm.mmapReadLock();
        assertThatThrownBy(mm::mmapWriteLock).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already holds the mmap lock for read")
                .hasMessageContaining("no upgrade");
        mm.mmapReadUnlock();
        assertThatThrownBy(mm::mmapReadUnlock).as("exactly one read hold was taken")
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("does not hold");
        assertThat(freeForOthers(mm)).isTrue();
    }

    @Test
    void readAfterRead_isARecursiveRead_whichLockdepReports_andIsRefused() {
        MmStruct mm = new MmStruct();
        mm.mmapReadLock();
        assertThatThrownBy(mm::mmapReadLock).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("recursive read, which lockdep reports");
        assertThatThrownBy(mm::mmapReadTrylock).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("recursive read");
        mm.mmapReadUnlock();
        assertThatThrownBy(mm::mmapReadUnlock).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void readersOfDifferentThreads_shareTheLock() throws Exception {
        MmStruct mm = new MmStruct();
        mm.mmapReadLock();
        assertThat(freeForOthers(mm)).as("a second thread's read lock is not recursion").isTrue();
        mm.mmapReadUnlock();
    }

    @Test
    void unlockWithoutHolding_isRefusedWithAMessage() {
        MmStruct mm = new MmStruct();
        assertThatThrownBy(mm::mmapWriteUnlock).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("does not hold the mmap lock for write");
        assertThatThrownBy(mm::mmapReadUnlock).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("does not hold the mmap lock for read");
        assertThatThrownBy(mm::mmapWriteDowngrade).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("does not hold the mmap lock for write");
    }

    @Test
    void downgrade_turnsTheWriteHoldIntoARead_withoutLettingAWriterIn() throws Exception {
        MmStruct mm = new MmStruct();
        mm.mmapWriteLock();
        CountDownLatch writerDone = new CountDownLatch(1);
        Worker writer = new Worker("writer", () -> {
            mm.mmapWriteLock();
            mm.mmapWriteUnlock();
            writerDone.countDown();
        });
        awaitParked(writer, "the writer must queue behind our write hold");
        mm.mmapWriteDowngrade();
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
        mm.assertMmapLocked(); // held for read now
        assertThat(writerDone.await(50, TimeUnit.MILLISECONDS)).as("the writer still waits for our read hold")
                .isFalse();
        mm.mmapReadUnlock();
        writer.joinChecked();
        assertThat(writerDone.getCount()).isZero();
    }

    @Test
    void trylock_failsWhileAWriterHoldsIt_andNeverBlocks() throws Exception {
        MmStruct mm = new MmStruct();
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = gate();
        Worker w = new Worker("holder", () -> {
            mm.mmapWriteLock();
            held.countDown();
            release.await();
            mm.mmapWriteUnlock();
        });
        held.await();
        assertThat(mm.mmapReadTrylock()).isFalse();
        release.countDown();
        w.joinChecked();
        assertThat(mm.mmapReadTrylock()).isTrue();
        mm.mmapReadUnlock();
    }

    @Test
    void trylock_isAllowedInACallback_whereTheBlockingLockIsNot() {
        MmStruct mm = new MmStruct();
        boolean[] got = new boolean[1];
        String[] refused = new String[1];
        Recorder.Ops ops = new Recorder.Ops("trylock") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                try {
                    mm.mmapReadLock();
                } catch (IllegalStateException e) {
                    refused[0] = e.getMessage();
                }
                got[0] = mm.mmapReadTrylock(); // the OOM reaper's way: never blocks, so no lock order
                if (got[0]) {
                    mm.mmapReadUnlock();
                }
                return true;
            }
        };
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        MmuNotifierRange r = new MmuNotifierRange(mm, 0, 0x1000, MmuNotifierEvent.CLEAR, false);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(r)).isTrue();
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(refused[0]).contains("no MMU-notifier callback may take an mmap lock");
        assertThat(got[0]).isTrue();
        MmuNotifiers.unregister(mn, mm);
    }

    @Test
    void register_andGet_takeTheMmapLockForWrite_soTheyWaitForAReader() throws Exception {
        // Kills the mutant "register does not take the mmap lock" (5.4: mmu_notifier_register
        // takes down_write(&mm->mmap_sem) around __mmu_notifier_register).
        MmStruct mm = new MmStruct();
        Recorder mn = track(new Recorder("a", new Recorder.Ops("reg")));
        mm.mmapReadLock();
        Worker reg = new Worker("register", () -> MmuNotifiers.register(mn, mm));
        awaitParked(reg, "register returned while a reader held the mmap lock");
        assertThat(mm.hasNotifiers()).as("nothing registered while the reader holds the lock").isFalse();
        Recorder.Ops getOps = trackingOps("get");
        Worker get = new Worker("get", () -> MmuNotifiers.get(getOps, mm));
        awaitParked(get, "get returned while a reader held the mmap lock");
        mm.mmapReadUnlock();
        reg.joinChecked();
        get.joinChecked();
        assertThat(mm.subscriptions.list).hasSize(2).contains(mn);
        MmuNotifiers.unregister(mn, mm);
        MmuNotifiers.put(mm.subscriptions.list[0]);
    }
}
