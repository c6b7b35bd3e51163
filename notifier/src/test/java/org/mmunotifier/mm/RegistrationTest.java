package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** B-1, B-3 .. B-7: mmu_notifier_register and __mmu_notifier_register. */
class RegistrationTest extends NotifierTestBase {
    private final Recorder.Ops ops = new Recorder.Ops("reg");

    @Test
    void B1_registerLocked_requiresMmapWriteLockOfCallingThread() {
        MmStruct mm = new MmStruct();
        Recorder mn = track(new Recorder("a", ops));
        assertThatThrownBy(() -> MmuNotifiers.registerLocked(mn, mm))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("mmap lock");
        mm.mmapReadLock();
        try {
            assertThatThrownBy(() -> MmuNotifiers.registerLocked(mn, mm))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("for write");
        } finally {
            mm.mmapReadUnlock();
        }
        assertThat(mm.hasNotifiers()).isFalse();
        assertThat(mm.count()).isEqualTo(1);

        mm.mmapWriteLock();
        try {
            MmuNotifiers.registerLocked(mn, mm);
        } finally {
            mm.mmapWriteUnlock();
        }
        assertThat(mn.linked()).isTrue();
        MmuNotifiers.unregister(mn, mm);
    }

    @Test
    void B1_register_takesAndDropsTheMmapWriteLock() {
        MmStruct mm = new MmStruct();
        Recorder.Ops checking = new Recorder.Ops("lock") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                return true;
            }
        };
        Recorder mn = track(new Recorder("a", checking));
        MmuNotifiers.register(mn, mm);
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
        assertThat(mn.linked()).isTrue();
        MmuNotifiers.unregister(mn, mm);
    }

    @Test
    void B1_register_onMmWithoutUsers_isRefused() {
        MmStruct mm = new MmStruct();
        mm.mmgrab();
        mm.mmput(); // exit: users 0
        Recorder mn = track(new Recorder("a", ops));
        assertThatThrownBy(() -> MmuNotifiers.register(mn, mm))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("no users");
        assertThat(mn.linked()).isFalse();
        assertThat(mm.count()).isEqualTo(1);
        mm.mmdrop();
    }

    @Test
    void B1_theLinkItselfRechecksUsers_soExitCannotLeaveANotifierLinked() {
        MmStruct mm = new MmStruct();
        Recorder first = track(new Recorder("first", ops));
        MmuNotifiers.register(first, mm); // creates the subscriptions
        mm.mmgrab();
        mm.mmput(); // exit: users 0, first released and unlinked
        Recorder late = track(new Recorder("late", ops));
        assertThat(mm.subscriptions.link(late, mm)).as("the check under the list lock").isFalse();
        assertThat(late.linked()).isFalse();
        assertThat(mm.subscriptions.list).isEmpty();
        MmuNotifiers.unregister(first, mm);
        mm.mmdrop();
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void B3_register_setsMmAndOneUserBeforeAnythingCanFail() {
        MmStruct mm = new MmStruct();
        Recorder mn = track(new Recorder("a", ops));
        Thread.currentThread().interrupt();
        try {
            assertThatThrownBy(() -> MmuNotifiers.register(mn, mm)).isInstanceOf(IllegalStateException.class);
        } finally {
            Thread.interrupted();
        }
        assertThat(mn.mm()).as("set first, as the kernel does").isSameAs(mm);
        assertThat(mn.linked()).isFalse();
        // the port then clears the user again, so that a stray put or unregister cannot mmdrop
        assertThat(mn.users).isZero();
        assertThatThrownBy(() -> MmuNotifiers.put(mn)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("never registered");
        assertThatThrownBy(() -> MmuNotifiers.unregister(mn, mm)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not registered");
        assertThat(mm.count()).isEqualTo(1);
    }

    @Test
    void B4_firstRegistration_allocatesSubscriptions_whichOutliveTheNotifiers() {
        MmStruct mm = new MmStruct();
        assertThat(mm.hasNotifiers()).isFalse();
        assertThat(mm.subscriptions).isNull();
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        Subscriptions s = mm.subscriptions;
        assertThat(mm.hasNotifiers()).isTrue();
        Recorder second = track(new Recorder("b", ops));
        MmuNotifiers.register(second, mm);
        assertThat(mm.subscriptions).isSameAs(s);
        MmuNotifiers.unregister(mn, mm);
        MmuNotifiers.unregister(second, mm);
        assertThat(mm.hasNotifiers()).as("freed only with the mm (count 0)").isTrue();
        assertThat(s.size()).isZero();
    }

    @Test
    void B5_interruptedRegistration_failsAndPublishesNothing() {
        MmStruct mm = new MmStruct();
        Recorder mn = track(new Recorder("a", ops));
        Thread.currentThread().interrupt();
        try {
            assertThatThrownBy(() -> MmuNotifiers.register(mn, mm))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("-EINTR")
                    .hasCauseInstanceOf(InterruptedException.class);
            assertThat(Thread.currentThread().isInterrupted()).as("interrupt status kept").isTrue();
        } finally {
            Thread.interrupted();
        }
        assertThat(mm.hasNotifiers()).isFalse();
        assertThat(mm.count()).as("no mmgrab").isEqualTo(1);
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
        // and it can be registered afterwards
        MmuNotifiers.register(mn, mm);
        MmuNotifiers.unregister(mn, mm);
    }

    @Test
    void B6_register_grabsMm_linksNewestFirst_andLaterInvalidationsSeeIt() {
        MmStruct mm = new MmStruct();
        Recorder a = track(new Recorder("a", ops));
        Recorder b = track(new Recorder("b", ops));
        Recorder c = track(new Recorder("c", ops));
        MmuNotifiers.register(a, mm);
        assertThat(mm.count()).isEqualTo(2);
        MmuNotifiers.register(b, mm);
        MmuNotifiers.register(c, mm);
        assertThat(mm.count()).isEqualTo(4);
        assertThat(mm.subscriptions.list).containsExactly(c, b, a);

        StringBuilder order = new StringBuilder();
        Recorder.Ops ordering = new Recorder.Ops("order") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                order.append(mn.name);
                return true;
            }
        };
        MmStruct mm2 = new MmStruct();
        Recorder x = track(new Recorder("x", ordering));
        Recorder y = track(new Recorder("y", ordering));
        MmuNotifiers.register(x, mm2);
        MmuNotifiers.register(y, mm2);
        MmuNotifierRange r = range(mm2);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(order).hasToString("yx");
        assertThat(x.ends.get()).isEqualTo(1);

        for (Recorder n : new Recorder[] {a, b, c}) {
            MmuNotifiers.unregister(n, mm);
        }
        MmuNotifiers.unregister(x, mm2);
        MmuNotifiers.unregister(y, mm2);
        assertThat(mm.count()).isEqualTo(1);
    }

    @Test
    void B7_register_doesNoDuplicateDetectionByOps() {
        MmStruct mm = new MmStruct();
        Recorder a = track(new Recorder("a", ops));
        Recorder b = track(new Recorder("b", ops));
        MmuNotifiers.register(a, mm);
        MmuNotifiers.register(b, mm);
        MmuNotifierRange r = range(mm);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(a.starts.get()).isEqualTo(1);
        assertThat(b.starts.get()).isEqualTo(1);
        MmuNotifiers.unregister(a, mm);
        MmuNotifiers.unregister(b, mm);
    }

    @Test
    void B7_registeringTheSameObjectTwice_isRefused_insteadOfCorruptingTheList() {
        MmStruct mm = new MmStruct();
        Recorder a = track(new Recorder("a", ops));
        MmuNotifiers.register(a, mm);
        assertThatThrownBy(() -> MmuNotifiers.register(a, mm))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("already registered");
        assertThat(mm.subscriptions.list).containsExactly(a);
        assertThat(mm.count()).isEqualTo(2);
        MmuNotifiers.unregister(a, mm);
    }

    @Test
    void register_withoutOps_isRefused() {
        MmStruct mm = new MmStruct();
        Recorder noOps = new Recorder("noops");
        assertThatThrownBy(() -> MmuNotifiers.register(noOps, mm))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("has no ops");
        assertThat(mm.hasNotifiers()).isFalse();
    }
}
