package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The membarrier(2) binding: where it is offered, and what it says when it is not. */
class MembarrierTest {
    private static final boolean LINUX_X86_OR_ARM = Membarrier.syscallNumber(System.getProperty("os.name"),
            System.getProperty("os.arch")) > 0;

    @Test
    void syscallNumber_isLinuxsForX8664AndAArch64_andNoneElsewhere() {
        assertThat(Membarrier.syscallNumber("Linux", "amd64")).isEqualTo(324);
        assertThat(Membarrier.syscallNumber("Linux", "x86_64")).isEqualTo(324);
        assertThat(Membarrier.syscallNumber("Linux", "aarch64")).isEqualTo(283);
        assertThat(Membarrier.syscallNumber("Linux", "riscv64")).isEqualTo(-1);
        assertThat(Membarrier.syscallNumber("Mac OS X", "aarch64")).isEqualTo(-1);
        assertThat(Membarrier.syscallNumber("Windows 11", "amd64")).isEqualTo(-1);
    }

    @Test
    void beforeJdk22_itIsUnavailable_andSaysWhy() {
        assumeTrue(Runtime.version().feature() < 22 && LINUX_X86_OR_ARM);
        assertThat(Membarrier.available()).isFalse();
        assertThat(Membarrier.status()).contains("needs JDK 22");
    }

    /** The build runs the tests on JDK 22+ with native access enabled for the class path. */
    @Test
    void onJdk22WithNativeAccess_onLinux_itIsRegistered() {
        assumeTrue(Runtime.version().feature() >= 22 && LINUX_X86_OR_ARM);
        assertThat(Membarrier.status()).isEqualTo("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) registered");
        assertThat(Membarrier.available()).isTrue();
        for (int i = 0; i < 3; i++) {
            Membarrier.barrier(); // returns 0, or throws
        }
    }

    @Test
    void barrier_whereUnavailable_throwsWithTheReason() {
        assumeTrue(!Membarrier.available());
        assertThatThrownBy(Membarrier::barrier).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("membarrier is not available: " + Membarrier.status());
    }

    /**
     * On JDK 22+ without {@code --enable-native-access}, the binding does not make the downcall
     * (later JDKs refuse it) and says which flag enables it; the fence-free reader is then not
     * the default. Run in a JVM of its own, started without the flag.
     */
    @Test
    void onJdk22WithoutNativeAccess_itIsUnavailable_andNamesTheFlag() throws Exception {
        assumeTrue(Runtime.version().feature() >= 22 && LINUX_X86_OR_ARM);
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), StatusProbe.class.getName())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
        assertThat(out).contains("available=false")
                .contains("status=native access is not enabled for the class path (the unnamed module) "
                        + "(run with --enable-native-access=ALL-UNNAMED)")
                .contains("flavour=ONE_FENCE");
    }

    /** Prints what the binding and the default flavour say in this JVM. */
    static final class StatusProbe {
        public static void main(String[] args) {
            System.out.println("available=" + Membarrier.available());
            System.out.println("status=" + Membarrier.status());
            try (Srcu srcu = new Srcu("probe")) {
                System.out.println("flavour=" + srcu.flavour().flavour());
            }
        }
    }
}
