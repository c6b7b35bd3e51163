package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.mmunotifier.mm.IntervalSub.itree;
import static org.mmunotifier.mm.IntervalSub.span;

import org.junit.jupiter.api.Test;

/** Misuse of the interval API: a clear exception, and nothing changed. */
class IntervalMisuseTest extends NotifierTestBase {

    @Test
    void removeTwice_isRefused_andChangesNothing() {
        MmStruct mm = new MmStruct();
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        a.remove();
        assertThatThrownBy(a::remove).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("MmuIntervalNotifier.remove").hasMessageContaining("is removed")
                .hasMessageContaining("nothing changed");
        assertThat(mm.count()).isEqualTo(1);
        assertThatThrownBy(a::readBegin).as("readBegin after remove").isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("is removed");
        mm.mmput();
    }

    @Test
    void removeOfASubscriptionNeverInserted_isRefused() {
        MmuIntervalNotifier a = new MmuIntervalNotifier();
        assertThatThrownBy(a::remove).isInstanceOf(IllegalStateException.class).hasMessageContaining("not inserted");
        assertThatThrownBy(a::readBegin).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not inserted");
    }

    @Test
    void insertOfLengthZero_orAnIntervalThatWraps_isRefused_theKernelsEoverflow() {
        MmStruct mm = new MmStruct();
        MmuIntervalNotifier a = new MmuIntervalNotifier();
        assertThatThrownBy(() -> MmuNotifiers.insertInterval(a, mm, 0x1000, 0, IntervalSub.RECORDING))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is empty")
                .hasMessageContaining("-EOVERFLOW");
        assertThatThrownBy(() -> MmuNotifiers.insertInterval(a, mm, 2, -1L, IntervalSub.RECORDING))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("wraps");
        assertThat(mm.hasNotifiers()).as("nothing registered").isFalse();
        assertThat(mm.count()).isEqualTo(1);
        assertThat(a.isInserted()).isFalse();
        // The edges that fit: the whole space from 1, and the very last byte.
        MmuIntervalNotifier whole = MmuNotifiers.insertInterval(mm, 1, -1L, IntervalSub.RECORDING);
        assertThat(whole.last()).isEqualTo(-1L);
        MmuIntervalNotifier top = MmuNotifiers.insertInterval(mm, -1L, 1, IntervalSub.RECORDING);
        assertThat(top.last()).isEqualTo(-1L);
        whole.remove();
        top.remove();
        mm.mmput();
    }

    @Test
    void insertOnADestroyedMm_isRefused() {
        MmStruct mm = new MmStruct();
        mm.mmput();
        MmuIntervalNotifier a = new MmuIntervalNotifier();
        assertThatThrownBy(() -> MmuNotifiers.insertInterval(a, mm, 0x1000, 0x1000, IntervalSub.RECORDING))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("destroyed");
        assertThat(a.isInserted()).isFalse();
        assertThat(a.mm()).isNull();
    }

    @Test
    void insertOnAnExitedMm_isRefused_theKernelsEinval() {
        MmStruct mm = new MmStruct();
        mm.mmgrab();
        mm.mmput(); // exited, still allocated
        assertThatThrownBy(() -> MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("no users");
        assertThat(mm.count()).isEqualTo(1);
        mm.mmdrop();
    }

    @Test
    void insertingAnInsertedSubscriptionAgain_isRefused_butARemovedOneMayBeInsertedAgain() {
        MmStruct mm = new MmStruct();
        IntervalSub a = MmuNotifiers.insertInterval(new IntervalSub("a"), mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        assertThatThrownBy(() -> MmuNotifiers.insertInterval(a, mm, 0x5000, 0x1000, IntervalSub.RECORDING))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("is inserted");
        assertThat(a.start()).isEqualTo(0x1000);
        assertThat(itree(mm).tree.size()).isEqualTo(1);
        a.remove();
        MmuNotifiers.insertInterval(a, mm, 0x5000, 0x1000, IntervalSub.RECORDING);
        assertThat(a.start()).isEqualTo(0x5000);
        MmuNotifierRange r = span(mm, 0x5000, 0x6000);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(a.calls.get()).isEqualTo(1);
        a.remove();
        mm.mmput();
    }

    @Test
    void insertLocked_withoutTheMmapWriteLock_andInsert_holdingTheMmapLock_areRefused() {
        MmStruct mm = new MmStruct();
        assertThatThrownBy(() -> MmuNotifiers.insertIntervalLocked(mm, 0x1000, 0x1000, IntervalSub.RECORDING))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("must hold the mmap lock");
        mm.mmapReadLock();
        try {
            assertThatThrownBy(() -> MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("already holds the mmap lock");
        } finally {
            mm.mmapReadUnlock();
        }
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        mm.mmapWriteLock();
        try { // itree mode is on: the unlocked form would not take the lock, but might_lock still refuses
            assertThatThrownBy(() -> MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("already holds the mmap lock");
        } finally {
            mm.mmapWriteUnlock();
        }
        assertThat(itree(mm).tree.size()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(2);
        a.remove();
        mm.mmput();
    }

    @Test
    void anEvenSequence_isRefusedByReadRetryCheckRetryAndSetSeq() {
        MmStruct mm = new MmStruct();
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        long seq = a.readBegin();
        assertThatThrownBy(() -> a.readRetry(2)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("always odd");
        assertThatThrownBy(() -> a.checkRetry(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.setSeq(4)).isInstanceOf(IllegalArgumentException.class);
        assertThat(a.readRetry(seq)).as("unchanged").isFalse();
        a.remove();
        mm.mmput();
    }

    @Test
    void nullArguments_areRefused() {
        MmStruct mm = new MmStruct();
        assertThatThrownBy(() -> MmuNotifiers.insertInterval(mm, 0, 1, null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> MmuNotifiers.insertInterval(null, 0, 1, IntervalSub.RECORDING))
                .isInstanceOf(NullPointerException.class);
        assertThat(mm.hasNotifiers()).isFalse();
        mm.mmput();
    }
}
