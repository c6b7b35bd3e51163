package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * B-29..B-32 in docs/behaviours.md, "every notifier that has the op": the core finds which
 * callbacks an ops class overrides, as the kernel tests {@code mn->ops->invalidate_range} and the
 * others for NULL, and skipping a default changes no result: a notifier with the default start
 * still gets its end, a default young callback answers false.
 */
class DefaultCallbackTest extends NotifierTestBase {

    private static final class NothingOps implements MmuNotifierOps<MmuNotifier> {
    }

    private static class RangeOnly implements MmuNotifierOps<MmuNotifier> {
        @Override
        public void invalidateRange(MmuNotifier mn, MmStruct mm, long start, long end) {
        }
    }

    private static final class InheritsRange extends RangeOnly {
    }

    private static final class Driver extends MmuNotifier {
        final List<String> seen = new ArrayList<>();

        Driver(MmuNotifierOps<?> ops) {
            super(ops);
        }
    }

    /** Generic in its own notifier type: the overrides are reached through bridge methods. */
    private static final class EndOnly implements MmuNotifierOps<Driver> {
        @Override
        public void invalidateRangeEnd(Driver mn, MmuNotifierRange range) {
            mn.seen.add("end " + range.start());
        }

        @Override
        public boolean testYoung(Driver mn, MmStruct mm, long address) {
            mn.seen.add("testYoung");
            return true;
        }
    }

    private static int bits(Dispatch.Callback... cbs) {
        int m = 0;
        for (Dispatch.Callback cb : cbs) {
            m |= cb.bit;
        }
        return m;
    }

    @Test
    void implemented_isTheSetOfOverriddenCallbacks_throughBridgesAndSuperclasses() {
        assertThat(Dispatch.overrides(NothingOps.class)).as("uncached").isZero();
        assertThat(Dispatch.overrides(EndOnly.class)).as("uncached")
                .isEqualTo(bits(Dispatch.Callback.INVALIDATE_RANGE_END, Dispatch.Callback.TEST_YOUNG));
        assertThat(Dispatch.implemented(new NothingOps())).isZero();
        assertThat(Dispatch.implemented(new RangeOnly())).isEqualTo(bits(Dispatch.Callback.INVALIDATE_RANGE));
        assertThat(Dispatch.implemented(new InheritsRange())).isEqualTo(bits(Dispatch.Callback.INVALIDATE_RANGE));
        assertThat(Dispatch.implemented(new EndOnly()))
                .isEqualTo(bits(Dispatch.Callback.INVALIDATE_RANGE_END, Dispatch.Callback.TEST_YOUNG));
        assertThat(Dispatch.implemented(new Recorder.Ops("rec"))).as("Recorder.Ops' overrides")
                .isEqualTo(bits(Dispatch.Callback.RELEASE, Dispatch.Callback.INVALIDATE_RANGE_START,
                        Dispatch.Callback.INVALIDATE_RANGE_END, Dispatch.Callback.INVALIDATE_RANGE,
                        Dispatch.Callback.FREE_NOTIFIER));
    }

    @Test
    void aNotifierWithTheDefaultStart_stillGetsItsEnd_andDefaultYoungAnswersFalse() {
        MmStruct mm = new MmStruct();
        Driver end = new Driver(new EndOnly());
        MmuNotifier nothing = new MmuNotifier(new NothingOps()) {
        };
        MmuNotifiers.register(end, mm);
        MmuNotifiers.register(nothing, mm);
        MmuNotifierRange range = new MmuNotifierRange(mm, 4096, 8192, MmuNotifierEvent.UNMAP, true);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(range)).as("default starts succeed").isTrue();
        PrimaryMmu.invalidateRangeEnd(range);
        assertThat(end.seen).containsExactly("end 4096");
        assertThat(PrimaryMmu.testYoung(mm, 4096)).as("OR with the default's false").isTrue();
        assertThat(PrimaryMmu.clearYoung(mm, 0, 4096)).as("every young callback is a default").isFalse();
        MmuNotifiers.unregister(nothing, mm);
        assertThat(PrimaryMmu.testYoung(mm, 4096)).isTrue();
        MmuNotifiers.unregister(end, mm);
        assertThat(PrimaryMmu.testYoung(mm, 4096)).isFalse();
        mm.mmput();
    }
}
