package org.mmunotifier.simulator;

/** Escaping for the HTML report, which is also well-formed XML. */
final class Html {
    private Html() {
    }

    /**
     * Escapes text for an element's content or a double-quoted attribute value: {@code & < > " '}.
     *
     * @return {@code s} with each of those five characters replaced by its entity
     */
    static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
