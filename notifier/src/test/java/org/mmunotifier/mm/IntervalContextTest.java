package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.mmunotifier.mm.IntervalSub.itree;
import static org.mmunotifier.mm.IntervalSub.span;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.mmunotifier.srcu.ExecutionContext;

/** The contexts interval callbacks run in, and what they may call. */
class IntervalContextTest extends NotifierTestBase {

    @Test
    void invalidate_runsInAnAtomicFrameOnANonBlockableRange_andInASleepableOneOtherwise() {
        MmStruct mm = new MmStruct();
        List<String> frames = new ArrayList<>();
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, (s, r, seq) -> {
            ExecutionContext c = ExecutionContext.current();
            frames.add(c.depth() + (c.inAtomic() ? " atomic" : " sleepable") + " " + c.describeInnermost());
            return true;
        });
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(r)).isTrue();
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(frames).containsExactly("1 sleepable the MmuIntervalNotifierOps.invalidate callback",
                "1 atomic the MmuIntervalNotifierOps.invalidate callback");
        a.remove();
        mm.mmput();
    }

    @Test
    void aBlockingCall_inANonBlockableInvalidate_throws() {
        MmStruct mm = new MmStruct();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, (s, r, seq) -> {
            try {
                MmuNotifiers.synchronize();
            } catch (IllegalStateException e) {
                thrown.set(e);
            }
            return true;
        });
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(r)).isTrue();
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(thrown.get()).hasMessageContaining("atomic context");
        a.remove();
        mm.mmput();
    }

    @Test
    void insertRemoveAndReadBegin_fromAnIntervalCallback_throwNamingTheCallAndTheRule_andChangeNothing() {
        MmStruct mm = new MmStruct();
        List<Throwable> thrown = new ArrayList<>();
        MmuIntervalNotifier[] self = new MmuIntervalNotifier[1];
        self[0] = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, (s, r, seq) -> {
            s.setSeq(seq);
            for (Runnable call : List.<Runnable>of(
                    () -> MmuNotifiers.insertInterval(mm, 0x8000, 0x1000, IntervalSub.RECORDING),
                    s::remove,
                    s::readBegin)) {
                try {
                    call.run();
                } catch (IllegalStateException e) {
                    thrown.add(e);
                }
            }
            return true;
        });
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(thrown).hasSize(3);
        assertThat(thrown.get(0)).hasMessageContaining("MmuNotifiers.insertInterval called from the "
                + "MmuIntervalNotifierOps.invalidate callback").hasMessageContaining("no notifier callback may insert "
                + "or remove").hasMessageContaining("nothing changed");
        assertThat(thrown.get(1)).hasMessageContaining("MmuIntervalNotifier.remove called from")
                .hasMessageContaining("no notifier callback may insert or remove");
        assertThat(thrown.get(2)).hasMessageContaining("MmuIntervalNotifier.readBegin called from");
        assertThat(itree(mm).tree.size()).isEqualTo(1);
        assertThat(self[0].isInserted()).isTrue();
        assertThat(mm.count()).isEqualTo(2);
        self[0].remove();
        mm.mmput();
    }

    @Test
    void insertAndRemove_fromAListCallback_throwToo() {
        MmStruct mm = new MmStruct();
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        List<Throwable> thrown = new ArrayList<>();
        Recorder.Ops ops = new Recorder.Ops("list") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                try {
                    MmuNotifiers.insertInterval(mm, 0x8000, 0x1000, IntervalSub.RECORDING);
                } catch (IllegalStateException e) {
                    thrown.add(e);
                }
                try {
                    a.remove();
                } catch (IllegalStateException e) {
                    thrown.add(e);
                }
                return true;
            }
        };
        Recorder listNotifier = track(new Recorder("list", ops));
        MmuNotifiers.register(listNotifier, mm);
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(thrown).hasSize(2).allSatisfy(t -> assertThat(t).hasMessageContaining(
                "called from the invalidateRangeStart callback"));
        assertThat(a.isInserted()).isTrue();
        a.remove();
        MmuNotifiers.unregister(listNotifier, mm);
        mm.mmput();
    }

    @Test
    void readRetryAndSetSeq_areAllowedInAnAtomicCallback() {
        MmStruct mm = new MmStruct();
        boolean[] retry = new boolean[1];
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, (s, r, seq) -> {
            s.setSeq(seq);
            retry[0] = s.readRetry(1) && s.checkRetry(1);
            return true;
        });
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(r)).isTrue();
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(retry[0]).isTrue();
        a.remove();
        mm.mmput();
    }

    @Test
    void readBegin_inACallback_isRefusedWhereItWouldWait_andNotCheckedWhereItReturnsAtOnce() {
        MmStruct mm = new MmStruct();
        MmuIntervalNotifier other = MmuNotifiers.insertInterval(mm, 0x8000, 0x1000, IntervalSub.RECORDING);
        long[] otherSeq = {0};
        List<Throwable> thrown = new ArrayList<>();
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, (s, r, seq) -> {
            s.setSeq(seq);
            otherSeq[0] = other.readBegin(); // not being invalidated: the fast path, no check
            try {
                s.readBegin();               // its own invalidation: would wait for itself
            } catch (IllegalStateException e) {
                thrown.add(e);
            }
            return true;
        });
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(otherSeq[0]).isEqualTo(1);
        assertThat(thrown).singleElement().satisfies(t -> assertThat(t).hasMessageContaining(
                "MmuIntervalNotifier.readBegin called from the MmuIntervalNotifierOps.invalidate callback"));
        a.remove();
        other.remove();
        mm.mmput();
    }

    /**
     * Runs {@code call} inside an atomic section that is not a notifier callback (a driver holding
     * a spinlock) and asserts that the might-sleep check, not the callback rule, refuses it.
     */
    private static void assertRefusedAsSleepingInASpinlock(Runnable call, String callName) {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.enter(ExecutionContext.frame("a driver's spinlock", true));
        try {
            assertThatThrownBy(call::run).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining(callName + " called from")
                    .hasMessageContaining("must not sleep");
        } finally {
            ctx.exit();
        }
    }

    @Test
    void remove_inAnAtomicSection_isRefusedAsASleepingCall_andTheSubscriptionStays() {
        MmStruct mm = new MmStruct();
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        assertRefusedAsSleepingInASpinlock(a::remove, "MmuIntervalNotifier.remove");
        assertThat(a.isInserted()).as("nothing changed").isTrue();
        a.remove();
        mm.mmput();
    }

    @Test
    void readBegin_thatWouldWait_inAnAtomicSection_isRefusedAsASleepingCall() {
        // The subscription is being invalidated (its callback set the odd sequence), so readBegin
        // would wait; inside a driver's spinlock the might-sleep check refuses it.
        MmStruct mm = new MmStruct();
        MmuIntervalNotifier a = MmuNotifiers.insertInterval(mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        MmuNotifierRange range = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(range);
        assertRefusedAsSleepingInASpinlock(a::readBegin, "MmuIntervalNotifier.readBegin");
        PrimaryMmu.invalidateRangeEnd(range);
        long seq = a.readBegin(); // after the end it no longer waits
        assertThat(a.readRetry(seq)).isFalse();
        a.remove();
        mm.mmput();
    }
}
