package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mmunotifier.mm.IntervalSub.itree;
import static org.mmunotifier.mm.IntervalSub.span;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** I-1 .. I-10: the interval notifiers of Linux 5.5, one test per behaviour (and a few more). */
class IntervalNotifierTest extends NotifierTestBase {

    private static IntervalSub insert(String name, MmStruct mm, long start, long length, MmuIntervalNotifierOps ops) {
        return MmuNotifiers.insertInterval(new IntervalSub(name), mm, start, length, ops);
    }

    @Test
    void I1_theFirstInsert_registersItreeMode_withNoListEntryAndNoRegistrationMmgrab() {
        MmStruct mm = new MmStruct();
        assertThat(mm.hasNotifiers()).isFalse();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        assertThat(mm.hasNotifiers()).as("mm_has_notifiers").isTrue();
        assertThat(mm.subscriptions.list).as("no list entry").isEmpty();
        assertThat(itree(mm)).as("has_itree").isNotNull();
        assertThat(mm.count()).as("only the subscription's own mmgrab").isEqualTo(2);
        IntervalSub b = insert("b", mm, 0x3000, 0x1000, IntervalSub.RECORDING);
        assertThat(mm.count()).isEqualTo(3);
        Itree it = itree(mm);
        a.remove();
        b.remove();
        assertThat(mm.count()).isEqualTo(1);
        assertThat(itree(mm)).as("itree mode stays on").isSameAs(it);
        assertThat(it.tree.size()).isZero();
        mm.mmput();
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void I2_start_countsTheRangeIn_makesTheSequenceOddOnlyOnOverlap_andPassesTheOddSequence() {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING); // [0x1000, 0x1fff]
        Itree it = itree(mm);
        assertThat(it.invalidateSeq).as("starts at 2").isEqualTo(2);
        assertThat(a.invalidateSeq).as("idle insert: the mm's minus one").isEqualTo(1);

        MmuNotifierRange miss = span(mm, 0x2000, 0x3000); // end is exclusive, the interval closed
        PrimaryMmu.invalidateRangeStart(miss);
        assertThat(it.active).isEqualTo(1);
        assertThat(it.invalidateSeq).as("no overlap: stays even").isEqualTo(2);
        assertThat(a.calls.get()).isZero();
        PrimaryMmu.invalidateRangeEnd(miss);
        assertThat(it.active).isZero();
        assertThat(it.invalidateSeq).isEqualTo(2);

        MmuNotifierRange hit = span(mm, 0x1fff, 0x2000);
        PrimaryMmu.invalidateRangeStart(hit);
        assertThat(it.active).isEqualTo(1);
        assertThat(it.invalidateSeq).as("overlap: odd").isEqualTo(3);
        assertThat(a.logSnapshot()).containsExactly("UNMAP 1fff-2000 seq 3");
        assertThat(a.invalidateSeq).as("set by the callback: equal to the mm's while it runs").isEqualTo(3);
        PrimaryMmu.invalidateRangeEnd(hit);
        assertThat(it.invalidateSeq).as("the last end: even again").isEqualTo(4);
        assertThat(it.active).isZero();
        a.remove();
        mm.mmput();
    }

    @Test
    void I3_aNonBlockableRefusal_endsTheItreePassAtOnce_andSkipsTheListPass() {
        MmStruct mm = new MmStruct();
        Recorder listNotifier = track(new Recorder("list", new Recorder.Ops("list")));
        MmuNotifiers.register(listNotifier, mm);
        IntervalSub refusing = insert("refusing", mm, 0x1000, 0x1000, IntervalSub.ops((s, r, seq) -> false));
        IntervalSub later = insert("later", mm, 0x1800, 0x1000, IntervalSub.RECORDING); // starts after: walked after
        Itree it = itree(mm);

        MmuNotifierRange r = span(mm, 0x1000, 0x3000);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(r)).isFalse();
        assertThat(refusing.calls.get()).isEqualTo(1);
        assertThat(later.calls.get()).as("the walk stopped at the refusal").isZero();
        assertThat(listNotifier.starts.get() + listNotifier.logSnapshot().size()).as("no list pass").isZero();
        assertThat(it.active).as("the itree pass was ended").isZero();
        assertThat(it.invalidateSeq).isEqualTo(4);
        PrimaryMmu.invalidateRangeEnd(r); // a no-op on an aborted range
        assertThat(it.active).isZero();
        assertThat(listNotifier.ends.get()).isZero();

        refusing.remove();
        later.remove();
        MmuNotifiers.unregister(listNotifier, mm);
        mm.mmput();
    }

    @Test
    void I3_aBlockableFalse_isLoggedAndIgnored_theWalkAndTheListPassGoOn() {
        MmStruct mm = new MmStruct();
        Recorder listNotifier = track(new Recorder("list", new Recorder.Ops("list")));
        MmuNotifiers.register(listNotifier, mm);
        IntervalSub refusing = insert("refusing", mm, 0x1000, 0x1000, IntervalSub.ops((s, r, seq) -> false));
        IntervalSub later = insert("later", mm, 0x1800, 0x1000, IntervalSub.RECORDING);
        MmuNotifierRange r = span(mm, 0x1000, 0x3000);
        PrimaryMmu.invalidateRangeStart(r);
        assertThat(later.calls.get()).isEqualTo(1);
        assertThat(listNotifier.starts.get()).isEqualTo(1);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(listNotifier.ends.get()).isEqualTo(1);
        assertThat(itree(mm).invalidateSeq).isEqualTo(4);
        refusing.remove();
        later.remove();
        MmuNotifiers.unregister(listNotifier, mm);
        mm.mmput();
    }

    @Test
    void I4_theLastEnd_makesTheSequenceEven_andAppliesTheDeferredInsertsAndRemoves() throws Exception {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        Itree it = itree(mm);
        MmuNotifierRange r1 = span(mm, 0x1000, 0x2000);
        MmuNotifierRange r2 = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r1);
        PrimaryMmu.invalidateRangeStart(r2);
        assertThat(it.active).isEqualTo(2);
        assertThat(it.invalidateSeq).isEqualTo(3);

        IntervalSub b = insert("b", mm, 0x1000, 0x1000, IntervalSub.RECORDING); // during the walk: deferred
        assertThat(it.deferred).containsExactly(b);
        assertThat(b.node).as("not in the tree yet").isNull();
        assertThat(b.invalidateSeq).as("the current odd sequence: readBegin waits").isEqualTo(3);
        assertThat(it.tree.size()).isEqualTo(1);

        PrimaryMmu.invalidateRangeEnd(r1);
        assertThat(it.active).isEqualTo(1);
        assertThat(it.invalidateSeq).as("not the last end: still odd").isEqualTo(3);
        assertThat(it.deferred).containsExactly(b);

        PrimaryMmu.invalidateRangeEnd(r2);
        assertThat(it.invalidateSeq).isEqualTo(4);
        assertThat(it.deferred).isEmpty();
        assertThat(b.node).as("inserted by the last end").isNotNull();
        assertThat(it.tree.size()).isEqualTo(2);

        // A deferred remove: applied by the last end, and remove waits for it.
        MmuNotifierRange r3 = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r3);
        Worker remover = new Worker("remover", a::removeAndMark);
        awaitParked(remover, "remove returned during the invalidation");
        assertThat(it.deferred).containsExactly(a);
        assertThat(it.tree.size()).as("still in the tree while the walk may run").isEqualTo(2);
        PrimaryMmu.invalidateRangeEnd(r3);
        remover.joinChecked();
        assertThat(it.invalidateSeq).isEqualTo(6);
        assertThat(it.tree.size()).isEqualTo(1);
        assertThat(a.node).isNull();
        b.remove();
        assertThat(mm.count()).isEqualTo(1);
        mm.mmput();
    }

    @Test
    void I5_readBegin_waitsWhileItsSubscriptionIsInvalidating_onceWithoutLooping() throws Exception {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        Itree it = itree(mm);
        assertThat(a.readBegin()).as("idle: at once").isEqualTo(1);

        MmuNotifierRange r1 = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r1); // the callback sets a's sequence to 3
        AtomicLong begun = new AtomicLong();
        Worker reader = new Worker("reader", () -> begun.set(a.readBegin()));
        awaitParked(reader, "readBegin did not wait while its subscription was invalidating");
        assertThat(begun.get()).isZero();

        // End r1 and start r2 before the reader can wake (the test holds the lock it waits on):
        // a reader that looped would see a's sequence equal to the mm's again and keep waiting.
        MmuNotifierRange r2 = span(mm, 0x1000, 0x2000);
        synchronized (it) {
            PrimaryMmu.invalidateRangeEnd(r1);     // seq 4
            PrimaryMmu.invalidateRangeStart(r2);   // seq 5, a's sequence 5
        }
        reader.joinChecked();
        assertThat(begun.get()).as("the value read before the wait").isEqualTo(3);
        assertThat(a.readRetry(begun.get())).as("r2 ran since: retry").isTrue();
        PrimaryMmu.invalidateRangeEnd(r2);
        assertThat(a.readBegin()).isEqualTo(5);
        assertThat(a.readRetry(5)).isFalse();
        a.remove();
        mm.mmput();
    }

    @Test
    void I5_readBegin_ofASubscriptionNotBeingInvalidated_doesNotWaitForOtherInvalidations() {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        IntervalSub b = insert("b", mm, 0x8000, 0x1000, IntervalSub.RECORDING);
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r); // odd, but only a is invalidating
        assertThat(b.readBegin()).isEqualTo(1);
        PrimaryMmu.invalidateRangeEnd(r);
        a.remove();
        b.remove();
        mm.mmput();
    }

    @Test
    void I6_readRetry_isTrueOnceACallbackSetTheSequence_andCheckRetryIsTheSameLocklessHint() {
        MmStruct mm = new MmStruct();
        boolean[] setSeq = {true};
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.ops((s, r, seq) -> {
            if (setSeq[0]) {
                s.setSeq(seq);
            }
            return true;
        }));
        long seq = a.readBegin();
        assertThat(a.readRetry(seq)).isFalse();
        assertThat(a.checkRetry(seq)).isFalse();
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        assertThat(a.checkRetry(seq)).as("a true hint is reliable").isTrue();
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(a.readRetry(seq)).isTrue();

        // The protocol rests on the driver: a callback that does not call setSeq is not seen.
        setSeq[0] = false;
        long seq2 = a.readBegin();
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(a.readRetry(seq2)).isFalse();
        a.remove();
        mm.mmput();
    }

    @Test
    void I7_insert_idle_duringAWalk_andDuringAnInvalidationThatFoundNothing() {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        Itree it = itree(mm);
        assertThat(a.invalidateSeq).as("idle: mm seq - 1").isEqualTo(1);
        assertThat(a.node).isNotNull();

        // Active, even (the invalidation found no interval): inserted now, sequence made odd.
        MmuNotifierRange miss = span(mm, 0x9000, 0xa000);
        PrimaryMmu.invalidateRangeStart(miss);
        IntervalSub b = insert("b", mm, 0x9000, 0x1000, IntervalSub.RECORDING);
        assertThat(it.invalidateSeq).isEqualTo(3);
        assertThat(b.node).as("in the tree at once").isNotNull();
        assertThat(it.deferred).isEmpty();
        assertThat(b.invalidateSeq).as("current: readBegin waits for the end").isEqualTo(3);
        assertThat(b.calls.get()).as("the running invalidation does not call it").isZero();
        PrimaryMmu.invalidateRangeEnd(miss);
        assertThat(it.invalidateSeq).isEqualTo(4);
        assertThat(b.readBegin()).isEqualTo(3);

        // Active, odd: deferred (I-4 follows it to the end).
        MmuNotifierRange hit = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(hit);
        IntervalSub c = insert("c", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        assertThat(it.deferred).containsExactly(c);
        assertThat(c.invalidateSeq).isEqualTo(5);
        PrimaryMmu.invalidateRangeEnd(hit);
        assertThat(mm.count()).isEqualTo(4);
        a.remove();
        b.remove();
        c.remove();
        assertThat(mm.count()).isEqualTo(1);
        mm.mmput();
    }

    @Test
    void I7_insertLocked_underTheMmapWriteLock_registersItreeModeToo() {
        MmStruct mm = new MmStruct();
        mm.mmapWriteLock();
        MmuIntervalNotifier a;
        try {
            a = MmuNotifiers.insertIntervalLocked(mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        } finally {
            mm.mmapWriteUnlock();
        }
        assertThat(itree(mm)).isNotNull();
        assertThat(a.mm()).isSameAs(mm);
        assertThat(a.start()).isEqualTo(0x1000);
        assertThat(a.last()).isEqualTo(0x1fff);
        assertThat(a.isInserted()).isTrue();
        a.remove();
        assertThat(a.isInserted()).isFalse();
        mm.mmput();
    }

    @Test
    void I8_remove_outsideAWalk_takesItOutAtOnce_andDropsTheMm() {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        Itree it = itree(mm);
        // An active invalidation that found nothing does not make remove wait.
        MmuNotifierRange miss = span(mm, 0x9000, 0xa000);
        PrimaryMmu.invalidateRangeStart(miss);
        a.removeAndMark();
        assertThat(it.tree.size()).isZero();
        assertThat(mm.count()).isEqualTo(1);
        PrimaryMmu.invalidateRangeEnd(miss);
        mm.mmput();
    }

    @Test
    void I8_removingASubscriptionWhoseInsertIsStillDeferred_dropsItFromTheDeferredList_withoutWaiting() {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        Itree it = itree(mm);
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        IntervalSub b = insert("b", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        assertThat(it.deferred).containsExactly(b);
        b.removeAndMark(); // returns at once: it never was in the tree
        assertThat(it.deferred).isEmpty();
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(it.tree.size()).as("the cancelled insert is not applied").isEqualTo(1);
        assertThat(b.calls.get()).isZero();
        a.remove();
        assertThat(mm.count()).isEqualTo(1);
        mm.mmput();
    }

    /** A driver's subscription whose equals says every one is the same. */
    static final class AllEqual extends IntervalSub {
        AllEqual(String name) {
            super(name);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof AllEqual;
        }

        @Override
        public int hashCode() {
            return 1;
        }
    }

    @Test
    void I8_cancellingADeferredInsert_findsTheSubscriptionByIdentity_evenIfItsClassOverridesEquals() {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        Itree it = itree(mm);
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        AllEqual first = MmuNotifiers.insertInterval(new AllEqual("first"), mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        AllEqual second = MmuNotifiers.insertInterval(new AllEqual("second"), mm, 0x1000, 0x1000,
                IntervalSub.RECORDING);
        second.remove();
        assertThat(it.deferred).hasSize(1);
        assertThat(it.deferred.get(0)).isSameAs(first);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(first.node).isNotNull();
        assertThat(it.tree.size()).isEqualTo(2);
        first.remove();
        a.remove();
        mm.mmput();
    }

    @Test
    void I8_removeDuringAWalk_waitsUntilTheLastEndAppliedTheRemoval_thenNoCallbackRuns() throws Exception {
        MmStruct mm = new MmStruct();
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        Itree it = itree(mm);
        MmuNotifierRange r1 = span(mm, 0x1000, 0x2000);
        MmuNotifierRange r2 = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r1);
        PrimaryMmu.invalidateRangeStart(r2);
        Worker remover = new Worker("remover", a::removeAndMark);
        awaitParked(remover, "remove did not wait for the walk");
        PrimaryMmu.invalidateRangeEnd(r1);
        awaitParked(remover, "remove returned before the last end");
        assertThat(a.removeReturned).isFalse();
        assertThat(mm.count()).as("the mm reference is dropped only at the end").isEqualTo(2);
        PrimaryMmu.invalidateRangeEnd(r2);
        remover.joinChecked();
        assertThat(mm.count()).isEqualTo(1);
        MmuNotifierRange r3 = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r3);
        PrimaryMmu.invalidateRangeEnd(r3);
        assertThat(a.calls.get()).isEqualTo(2);
        assertThat(a.violationsSnapshot()).isEmpty();
        mm.mmput();
    }

    @Test
    void I9_exit_invalidatesTheWholeAddressSpaceWithReleaseThroughTheTree_beforeTheListRelease() {
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        MmStruct mm = new MmStruct("exiting", m -> {
            order.add("teardown");
            MmuNotifierRange unmap = span(m, 0x1000, 0x2000);
            PrimaryMmu.invalidateRangeStart(unmap);
            PrimaryMmu.invalidateRangeEnd(unmap);
        });
        Recorder.Ops listOps = new Recorder.Ops("list") {
            @Override
            void onRelease(Recorder mn, MmStruct m) {
                order.add("list release");
            }
        };
        Recorder listNotifier = track(new Recorder("list", listOps));
        MmuNotifiers.register(listNotifier, mm);
        List<MmuNotifierRange> seen = Collections.synchronizedList(new ArrayList<>());
        IntervalSub top = insert("top", mm, -0x1000L, 0x1000, IntervalSub.ops((s, r, seq) -> {
            order.add("interval " + r.event());
            seen.add(r);
            s.setSeq(seq);
            return true;
        }));
        IntervalSub low = insert("low", mm, 0, 0x2000, IntervalSub.ops((s, r, seq) -> {
            order.add("interval " + r.event());
            s.setSeq(seq);
            return true;
        }));
        mm.mmput();
        assertThat(order).containsExactly("interval RELEASE", "interval RELEASE", "list release", "teardown",
                "interval UNMAP");
        MmuNotifierRange release = seen.get(0);
        assertThat(release.start()).isZero();
        assertThat(release.end()).as("the whole space: [0, ULONG_MAX)").isEqualTo(-1L);
        assertThat(release.blockable()).isTrue();
        Itree it = itree(mm);
        assertThat(it.active).isZero();
        assertThat(it.invalidateSeq & 1).isZero();
        assertThat(mm.isDestroyed()).as("the subscriptions hold the structure").isFalse();
        top.remove();
        low.remove();
        MmuNotifiers.unregister(listNotifier, mm);
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void I10_withNoListNotifier_thereIsNoListPassAndNoSrcuReadSection() {
        MmStruct mm = new MmStruct();
        boolean[] inSection = {true};
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.ops((s, r, seq) -> {
            inSection[0] = NotifierDomain.SRCU.readLockHeld();
            return true;
        }));
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        assertThat(inSection[0]).as("the itree pass runs outside any read section").isFalse();
        assertThat(r.started).as("no list snapshot (an empty one, so that the end closes the itree pass)").isEmpty();
        PrimaryMmu.invalidateRangeEnd(r);
        a.remove();
        mm.mmput();
    }

    @Test
    void I10_theItreePassRunsFirst_atTheStartAndAtTheEnd() {
        MmStruct mm = new MmStruct();
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        long[] seqAtListEnd = {-1};
        Recorder.Ops listOps = new Recorder.Ops("list") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                order.add("list start");
                return true;
            }

            @Override
            void onEnd(Recorder mn, MmuNotifierRange range) {
                seqAtListEnd[0] = itree(range.mm()).invalidateSeq;
                order.add("list end");
            }
        };
        Recorder listNotifier = track(new Recorder("list", listOps));
        MmuNotifiers.register(listNotifier, mm);
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.ops((s, r, seq) -> {
            order.add("interval");
            return true;
        }));
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(order).containsExactly("interval", "list start", "list end");
        assertThat(seqAtListEnd[0]).as("the itree pass was ended before the list's end").isEqualTo(4);
        a.remove();
        MmuNotifiers.unregister(listNotifier, mm);
        mm.mmput();
    }

    @Test
    void aFailedListStart_endsTheItreePassToo_soTheSequenceIsLeftEven() {
        MmStruct mm = new MmStruct();
        Recorder.Ops refusing = new Recorder.Ops("refusing") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                return false;
            }
        };
        Recorder listNotifier = track(new Recorder("list", refusing));
        MmuNotifiers.register(listNotifier, mm);
        IntervalSub a = insert("a", mm, 0x1000, 0x1000, IntervalSub.RECORDING);
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(r)).isFalse();
        assertThat(a.calls.get()).isEqualTo(1);
        assertThat(itree(mm).active).isZero();
        assertThat(itree(mm).invalidateSeq).isEqualTo(4);
        assertThat(a.readBegin()).as("does not wait forever").isEqualTo(3);
        a.remove();
        MmuNotifiers.unregister(listNotifier, mm);
        mm.mmput();
    }

    @Test
    void aThrowingIntervalCallback_theOthersStillRun_thenThePassIsEndedAndTheExceptionReachesTheCaller() {
        MmStruct mm = new MmStruct();
        IntervalSub bad = insert("bad", mm, 0x1000, 0x1000, IntervalSub.ops((s, r, seq) -> {
            throw new IllegalStateException("driver bug");
        }));
        IntervalSub good = insert("good", mm, 0x1800, 0x1000, IntervalSub.RECORDING);
        MmuNotifierRange r = span(mm, 0x1000, 0x3000);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> PrimaryMmu.invalidateRangeStart(r))
                .hasMessage("driver bug");
        assertThat(good.calls.get()).isEqualTo(1);
        assertThat(itree(mm).active).isZero();
        PrimaryMmu.invalidateRangeEnd(r); // aborted: a no-op
        bad.remove();
        good.remove();
        mm.mmput();
    }
}
