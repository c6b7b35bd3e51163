package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

/** The JFR events of docs/observability.md: GracePeriod and CallbackBatch, read back from a file. */
class SrcuJfrTest {
    static final String GRACE_PERIOD = "org.mmunotifier.srcu.GracePeriod";
    static final String CALLBACK_BATCH = "org.mmunotifier.srcu.CallbackBatch";

    /** Starts a recording of both events with threshold 0. */
    static Recording record() {
        Recording r = new Recording();
        r.enable(GRACE_PERIOD).withThreshold(Duration.ZERO).withStackTrace();
        r.enable(CALLBACK_BATCH).withThreshold(Duration.ZERO);
        r.start();
        return r;
    }

    /** Stops {@code r}, dumps it to a temporary file and returns its events of {@code domain}. */
    static List<RecordedEvent> stopAndRead(Recording r, String domain) throws Exception {
        r.stop();
        Path file = Files.createTempFile("srcu-jfr-", ".jfr");
        try {
            r.dump(file);
            return RecordingFile.readAllEvents(file).stream()
                    .filter(e -> e.getEventType().getName().startsWith("org.mmunotifier.srcu."))
                    .filter(e -> domain.equals(e.getString("domain")))
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
    void gracePeriodsAndCallbackBatches_areRecordedWithTheirFields() throws Exception {
        List<RecordedEvent> events;
        String flavourName;
        try (Srcu srcu = new Srcu("jfr-domain")) {
            flavourName = srcu.flavour().flavour().name();
            Recording r = record();
            srcu.synchronize();                 // grace period 1, normal
            srcu.synchronizeExpedited();        // grace period 2, expedited
            // Grace period 3, with a reader in the way: more than one scan of the first index
            // after the flip (the reader counts on the index that becomes the old one).
            HeldReadSection reader = HeldReadSection.readLock("jfr-reader", srcu);
            Thread updater = new Thread(srcu::synchronize);
            updater.start();
            Thread.sleep(50);
            reader.close();
            updater.join();
            // Callbacks: queued together while no grace period runs, then a barrier.
            AtomicInteger ran = new AtomicInteger();
            for (int i = 0; i < 3; i++) {
                srcu.callSrcu(ran::incrementAndGet);
            }
            srcu.barrier();
            assertThat(ran).hasValue(3);
            // barrier() returns once the last callback has run, which may be before its batch's
            // event is committed; close() joins the domain thread, so every commit is done.
            srcu.close();
            events = stopAndRead(r, "jfr-domain");
        }

        List<RecordedEvent> gps = named(events, GRACE_PERIOD);
        assertThat(gps).hasSizeGreaterThanOrEqualTo(4); // three above, one or more for the callbacks
        for (RecordedEvent gp : gps) {
            assertThat(gp.getString("flavour")).isEqualTo(flavourName);
            assertThat(gp.getInt("scans")).isGreaterThanOrEqualTo(2); // one per index at least
            assertThat(gp.getDuration().isNegative()).isFalse();
        }
        RecordedEvent first = gps.stream().filter(e -> e.getLong("gracePeriod") == 1).findFirst().orElseThrow();
        assertThat(first.getBoolean("expedited")).isFalse();
        assertThat(first.getStackTrace()).as("the stack of the synchronize that ran it").isNotNull();
        RecordedEvent second = gps.stream().filter(e -> e.getLong("gracePeriod") == 2).findFirst().orElseThrow();
        assertThat(second.getBoolean("expedited")).isTrue();
        RecordedEvent third = gps.stream().filter(e -> e.getLong("gracePeriod") == 3).findFirst().orElseThrow();
        assertThat(third.getBoolean("expedited")).isFalse();
        assertThat(third.getInt("scans")).as("the reader made the second wait scan again").isGreaterThan(2);
        assertThat(third.getDuration()).isGreaterThanOrEqualTo(Duration.ofMillis(10));

        List<RecordedEvent> batches = named(events, CALLBACK_BATCH);
        assertThat(batches).isNotEmpty();
        assertThat(batches.stream().mapToInt(e -> e.getInt("count")).sum()).isEqualTo(3);
        assertThat(batches).allSatisfy(b -> assertThat(b.getStackTrace()).isNull());
    }

    @Test
    void withNoRecording_nothingIsEnabled_andARecordingStartedLaterIsServed() throws Exception {
        // No recording: the checks say no, and everything works (compiled code folds the check).
        assertThat(GracePeriodEvent.enabled()).isFalse();
        assertThat(CallbackBatchEvent.enabled()).isFalse();
        try (Srcu srcu = new Srcu("jfr-later")) {
            for (int i = 0; i < 20_000; i++) { // enough for C2 to compile the grace period
                srcu.synchronizeExpedited();
            }
            srcu.callSrcu(() -> { });
            srcu.barrier();
            long before = srcu.gracePeriodsCompleted();

            Recording r = record();
            assertThat(GracePeriodEvent.enabled()).isTrue();
            srcu.synchronize();
            List<RecordedEvent> events = stopAndRead(r, "jfr-later");
            assertThat(GracePeriodEvent.enabled()).isFalse();

            assertThat(named(events, GRACE_PERIOD)).as("only the grace period run during the recording")
                    .singleElement()
                    .satisfies(e -> assertThat(e.getLong("gracePeriod")).isEqualTo(before + 1));
            assertThat(named(events, CALLBACK_BATCH)).isEmpty();
        }
    }

    /**
     * An idle grace period scans each index once: exactly two scans, counted per grace period
     * (not since the domain was created).
     */
    @Test
    void idleGracePeriods_recordTwoScansEach() throws Exception {
        List<RecordedEvent> events;
        try (Srcu srcu = new Srcu("jfr-idle")) {
            srcu.synchronize(); // before the recording: the domain's scan count is no longer 0
            Recording r = record();
            srcu.synchronize();
            srcu.synchronizeExpedited();
            srcu.synchronize();
            events = stopAndRead(r, "jfr-idle");
        }
        List<RecordedEvent> gps = named(events, GRACE_PERIOD);
        assertThat(gps).hasSize(3);
        assertThat(gps).allSatisfy(gp -> assertThat(gp.getInt("scans")).as("one scan per index").isEqualTo(2));
    }

    /**
     * A recording's threshold applies to the grace period's real length: with 200 ms, a grace
     * period held up 400 ms by a reader is recorded and idle ones are not (an event that never
     * began, or never ended before its threshold check, would be measured wrongly).
     */
    @Test
    void aGracePeriodThreshold_keepsTheGracePeriodAReaderHeldUp_andDropsIdleOnes() throws Exception {
        List<RecordedEvent> events;
        long[] tookNanos = new long[1];
        try (Srcu srcu = new Srcu("jfr-threshold")) {
            Recording r = new Recording();
            r.enable(GRACE_PERIOD).withThreshold(Duration.ofMillis(200));
            r.start();
            srcu.synchronize(); // idle: far below the threshold
            CountDownLatch inside = new CountDownLatch(1);
            Thread reader = new Thread(() -> {
                int idx = srcu.readLock();
                inside.countDown();
                try {
                    Thread.sleep(400);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    srcu.readUnlock(idx);
                }
            });
            reader.start();
            inside.await();
            long start = System.nanoTime();
            srcu.synchronize(); // grace period 2: waits for the reader
            long took = System.nanoTime() - start;
            tookNanos[0] = took;
            reader.join();
            srcu.synchronize(); // idle again
            events = stopAndRead(r, "jfr-threshold");
            assertThat(took).isGreaterThanOrEqualTo(Duration.ofMillis(200).toNanos());
        }
        assertThat(named(events, GRACE_PERIOD)).singleElement().satisfies(e -> {
            assertThat(e.getLong("gracePeriod")).isEqualTo(2);
            // The event lies inside the synchronize() call that ran it: it begins and ends there
            // (a lost begin() would stretch it back to the recording's start). 1 ms for the two clocks.
            assertThat(e.getDuration()).isGreaterThanOrEqualTo(Duration.ofMillis(200))
                    .isLessThanOrEqualTo(Duration.ofNanos(tookNanos[0]).plusMillis(1));
        });
    }
}
