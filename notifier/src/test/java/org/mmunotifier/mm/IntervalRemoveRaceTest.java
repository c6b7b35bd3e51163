package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mmunotifier.mm.IntervalSub.itree;
import static org.mmunotifier.mm.IntervalSub.span;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * I-8, the race that Linux 5.18 fixed (319561669a59, "mm/mmu_notifier.c: fix race in
 * mmu_interval_notifier_remove()"): the last end of an invalidation makes the sequence even and,
 * still under the lock, applies the deferred list. A remove that waited for the sequence reading
 * it without the lock could return in between, while its subscription was still on the deferred
 * list and in the tree; the driver then freed or reused an object the end was about to touch.
 *
 * <p>The test stops the last end inside that window (a hook that runs under the lock after the
 * sequence changed) and looks at the remover from there.
 */
class IntervalRemoveRaceTest extends NotifierTestBase {

    @AfterEach
    void backTo518() {
        Itree.legacyUnlockedRemoveWait = false;
    }

    /** What each side saw, in order. */
    private static final class Race {
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch removeReturned = new CountDownLatch(1);
        volatile boolean subStillQueuedWhenRemoveReturned;
    }

    /**
     * Plays the race: a walk holds the subscription, remove queues it and waits, then the last
     * end runs with a hook in the window. The hook waits up to {@code windowMillis} for remove to
     * return while the end is still in the window.
     */
    private Race play(long windowMillis) throws Exception {
        MmStruct mm = new MmStruct();
        IntervalSub sub = MmuNotifiers.insertInterval(new IntervalSub("victim"), mm, 0x1000, 0x1000,
                IntervalSub.RECORDING);
        Itree it = itree(mm);
        Race race = new Race();
        MmuNotifierRange r = span(mm, 0x1000, 0x2000);
        PrimaryMmu.invalidateRangeStart(r); // the walk called sub; the sequence is odd
        Worker remover = new Worker("remover", () -> {
            sub.remove();
            // Read at once, before anything else can run: is the object still queued?
            race.subStillQueuedWhenRemoveReturned = sub.onDeferred || sub.node != null; // racy on purpose: no lock
            race.events.add("remove returned");
            race.removeReturned.countDown();
        });
        awaitParked(remover, "remove did not wait for the walk");
        assertThat(it.deferred).containsExactly(sub);
        it.endHook = () -> { // under the lock, the sequence already even, the deferred list not applied
            race.events.add("end: sequence even, deferred list not applied yet");
            try {
                race.removeReturned.await(windowMillis, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            race.events.add("end: applying the deferred list");
        };
        PrimaryMmu.invalidateRangeEnd(r);
        it.endHook = null;
        remover.joinChecked();
        mm.mmput();
        return race;
    }

    @Test
    void I8_race319561669a59_removeReadsTheSequenceUnderTheLock_soItReturnsOnlyAfterTheDeferredListWasApplied()
            throws Exception {
        Race race = play(300); // a window long enough for an unlocked reader to slip through
        assertThat(race.events).containsExactly("end: sequence even, deferred list not applied yet",
                "end: applying the deferred list", "remove returned");
        assertThat(race.subStillQueuedWhenRemoveReturned).isFalse();
    }

    @Test
    void I8_race319561669a59_negativeControl_thePre518UnlockedRead_returnsInsideTheWindow_andIsCaught()
            throws Exception {
        Itree.legacyUnlockedRemoveWait = true;
        Race race = play(TimeUnit.SECONDS.toMillis(10)); // returns as soon as remove does
        // Where "remove returned" lands against the hook's first event is a race of its own (the
        // unlocked reader may see the new sequence before the hook records anything); that it
        // lands before the deferred list is applied is not: the hook waits for it.
        assertThat(race.events).as("remove returned while the end was still in the window")
                .containsExactlyInAnyOrder("end: sequence even, deferred list not applied yet", "remove returned",
                        "end: applying the deferred list")
                .endsWith("end: applying the deferred list");
        assertThat(race.subStillQueuedWhenRemoveReturned).as("the object was still on the deferred list and in "
                + "the tree when remove returned (a use after free in the kernel)").isTrue();
    }
}
