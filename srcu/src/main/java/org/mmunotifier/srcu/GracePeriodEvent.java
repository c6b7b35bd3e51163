package org.mmunotifier.srcu;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * JFR event: one grace period of a domain, from the grace-period counter going odd to it going
 * even again (docs/observability.md). Committed by the thread that ran the grace period (a
 * {@code synchronize} caller, or the domain's callback thread); its stack trace says which.
 *
 * <p>Cost: see {@link #enabled()}. The read side records nothing.
 */
@Name("org.mmunotifier.srcu.GracePeriod")
@Label("SRCU Grace Period")
@Category({"MMU Notifiers", "SRCU"})
@Description("One grace period of an SRCU domain: waiting for the readers of both counter indexes, "
        + "with the index flip between the two waits")
final class GracePeriodEvent extends Event {
    @Label("Domain")
    @Description("The name the domain was created with")
    String domain;

    @Label("Grace Period")
    @Description("The number of this grace period in its domain (1 for the first)")
    long gracePeriod;

    @Label("Expedited")
    @Description("Run by synchronizeExpedited(): its waits never park")
    boolean expedited;

    @Label("Scans")
    @Description("Scans of the reader counters, over both waits (2 when no reader was in the way)")
    int scans;

    @Label("Reader Flavour")
    @Description("How the domain's readers count themselves in and out")
    String flavour;

    /**
     * Whether a recording wants this event now. The probe object never escapes, so C2 removes
     * its allocation: what remains is {@link Event#isEnabled()}, a constant {@code false} while
     * JFR has never been started in this JVM and, after that, a load of the event type's
     * handler and of its flag. Starting a recording later re-instruments the class and discards
     * the compiled code that folded the old answer.
     */
    static boolean enabled() {
        return new GracePeriodEvent().isEnabled();
    }

    /** @return a begun event if a recording wants one, else null (nothing allocated) */
    static GracePeriodEvent beginIfEnabled() {
        if (!enabled()) {
            return null;
        }
        GracePeriodEvent e = new GracePeriodEvent();
        e.begin();
        return e;
    }
}
