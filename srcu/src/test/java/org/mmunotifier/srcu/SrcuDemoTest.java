package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.mmunotifier.srcu.demo.SrcuDemo;

/** The demonstration program tells the story it claims to tell, in order. */
class SrcuDemoTest {

    @Test
    void demo_synchronizeWaitsForTheSleepingReader_andTheCallbackFreesAfterAGracePeriod() throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream original = System.out;
        long t0 = System.nanoTime();
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            SrcuDemo.main(new String[0]);
        } finally {
            System.setOut(original);
        }
        long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        String[] lines = captured.toString(StandardCharsets.UTF_8).split("\\R");
        assertThat(lines).hasSize(4);
        // The reader slept 200 ms inside its section, and the object it held was not freed meanwhile.
        assertThat(lines[0]).isEqualTo("reader: still using version 1 after 200 ms, freed=false");
        Matcher waited = Pattern.compile("updater: synchronize\\(\\) waited (\\d+) ms for the pre-existing reader")
                .matcher(lines[1]);
        assertThat(waited.matches()).as(lines[1]).isTrue();
        // It waited for (most of) the reader's sleep, and reports no more time than the run took.
        assertThat(Long.parseLong(waited.group(1))).isBetween(150L, elapsedMillis);
        assertThat(lines[2]).isEqualTo("callback: freed version 2 on thread 'demo' after a grace period");
        // One grace period for synchronize, one for the callback's batch.
        assertThat(lines[3]).isEqualTo("done: 2 grace periods, 1 callback batch(es)");
    }
}
