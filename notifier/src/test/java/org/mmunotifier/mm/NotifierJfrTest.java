package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

/** The JFR events of docs/observability.md: Invalidation and DeferredFree, read back from a file. */
class NotifierJfrTest extends NotifierTestBase {
    static final String INVALIDATION = "org.mmunotifier.mm.Invalidation";
    static final String DEFERRED_FREE = "org.mmunotifier.mm.DeferredFree";

    /** Ops whose start refuses on a non-blockable range, as a driver whose lock is busy. */
    static final class RefusingOps extends Recorder.Ops {
        RefusingOps() {
            super("jfr");
        }

        @Override
        boolean onStart(Recorder mn, MmuNotifierRange range) {
            return range.blockable();
        }
    }

    static Recording record() {
        Recording r = new Recording();
        r.enable(INVALIDATION).withThreshold(Duration.ZERO);
        r.enable(DEFERRED_FREE).withThreshold(Duration.ZERO);
        r.start();
        return r;
    }

    /** Stops {@code r}, dumps it to a temporary file and returns its events on {@code mmName}. */
    static List<RecordedEvent> stopAndRead(Recording r, String mmName) throws Exception {
        r.stop();
        Path file = Files.createTempFile("notifier-jfr-", ".jfr");
        try {
            r.dump(file);
            return RecordingFile.readAllEvents(file).stream()
                    .filter(e -> e.getEventType().getName().startsWith("org.mmunotifier.mm."))
                    .filter(e -> ("MmStruct " + mmName).equals(e.getString("mm")))
                    .collect(Collectors.toList());
        } finally {
            r.close();
            Files.deleteIfExists(file);
        }
    }

    static List<RecordedEvent> named(List<RecordedEvent> events, String name) {
        return events.stream().filter(e -> e.getEventType().getName().equals(name)).collect(Collectors.toList());
    }

    @Test
    void invalidationsAndTheDeferredFree_areRecordedWithTheirFields() throws Exception {
        MmStruct mm = new MmStruct("jfr 1", null);
        RefusingOps ops = new RefusingOps();
        Recording r = record();
        Recorder mn = track(MmuNotifiers.get(ops, mm));

        MmuNotifierRange ok = new MmuNotifierRange(mm, 0x10000, 0x13000, MmuNotifierEvent.UNMAP);
        PrimaryMmu.invalidateRangeStart(ok);
        PrimaryMmu.invalidateRangeEnd(ok);
        MmuNotifierRange refused = new MmuNotifierRange(mm, 0x20000, 0x21000, MmuNotifierEvent.CLEAR);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(refused)).isFalse();

        MmuNotifiers.put(mn); // the last put
        MmuNotifiers.synchronize();
        assertThat(mn.freed).isTrue();
        List<RecordedEvent> events = stopAndRead(r, "jfr 1");

        List<RecordedEvent> inv = named(events, INVALIDATION);
        assertThat(inv).extracting(e -> e.getString("phase")).containsExactly("start", "end", "start");
        RecordedEvent start = inv.get(0);
        RecordedEvent end = inv.get(1);
        for (RecordedEvent e : List.of(start, end)) {
            assertThat(e.getString("kind")).isEqualTo("UNMAP");
            assertThat(e.getLong("rangeStart")).isEqualTo(0x10000);
            assertThat(e.getLong("rangeEnd")).isEqualTo(0x13000);
            assertThat(e.getInt("notifiers")).isEqualTo(1);
            assertThat(e.getBoolean("blockable")).isTrue();
            assertThat(e.getBoolean("failed")).isFalse();
            assertThat(e.getStackTrace()).as("who invalidated").isNotNull();
        }
        RecordedEvent failed = inv.get(2);
        assertThat(failed.getString("kind")).isEqualTo("CLEAR");
        assertThat(failed.getLong("rangeStart")).isEqualTo(0x20000);
        assertThat(failed.getLong("rangeEnd")).isEqualTo(0x21000);
        assertThat(failed.getInt("notifiers")).isEqualTo(1);
        assertThat(failed.getBoolean("blockable")).isFalse();
        assertThat(failed.getBoolean("failed")).isTrue();

        RecordedEvent free = named(events, DEFERRED_FREE).stream().collect(Collectors.collectingAndThen(
                Collectors.toList(), l -> {
                    assertThat(l).hasSize(1);
                    return l.get(0);
                }));
        assertThat(free.getClass("notifierClass").getName()).isEqualTo(Recorder.class.getName());
        assertThat(free.getClass("opsClass").getName()).isEqualTo(RefusingOps.class.getName());
        assertThat(free.getBoolean("failed")).isFalse();
        Duration freeAlone = Duration.ofNanos(free.getLong("freeDuration"));
        assertThat(freeAlone.isNegative()).isFalse();
        assertThat(free.getDuration()).as("last put to free: the free and a grace period")
                .isGreaterThanOrEqualTo(freeAlone);
        assertThat(free.getStackTrace()).isNull();
    }

    @Test
    void noNotifier_recordsNothing_evenWhileRecording() throws Exception {
        MmStruct mm = new MmStruct("jfr 2", null);
        Recording r = record();
        MmuNotifierRange range = new MmuNotifierRange(mm, 0, 0x1000, MmuNotifierEvent.UNMAP);
        PrimaryMmu.invalidateRangeStart(range);
        PrimaryMmu.invalidateRangeEnd(range);
        assertThat(stopAndRead(r, "jfr 2")).isEmpty();
    }

    @Test
    void withNoRecording_nothingIsEnabled_andARecordingStartedLaterIsServed() throws Exception {
        assertThat(InvalidationEvent.enabled()).isFalse();
        assertThat(DeferredFreeEvent.enabled()).isFalse();
        MmStruct mm = new MmStruct("jfr 3", null);
        Recorder.Ops ops = trackingOps("later");
        Recorder mn = MmuNotifiers.get(ops, mm);
        MmuNotifierRange range = new MmuNotifierRange(mm, 0x1000, 0x2000, MmuNotifierEvent.PROTECTION_VMA);
        for (int i = 0; i < 50_000; i++) { // enough for C2 to compile the walks with the check folded
            PrimaryMmu.invalidateRangeStart(range);
            PrimaryMmu.invalidateRangeEnd(range);
        }
        Recording r = record();
        assertThat(InvalidationEvent.enabled()).isTrue();
        PrimaryMmu.invalidateRangeStart(range);
        PrimaryMmu.invalidateRangeEnd(range);
        MmuNotifiers.put(mn);
        MmuNotifiers.synchronize();
        List<RecordedEvent> events = stopAndRead(r, "jfr 3");
        assertThat(InvalidationEvent.enabled()).isFalse();
        assertThat(named(events, INVALIDATION)).extracting(e -> e.getString("phase")).containsExactly("start", "end");
        assertThat(named(events, DEFERRED_FREE)).hasSize(1);
    }
}
