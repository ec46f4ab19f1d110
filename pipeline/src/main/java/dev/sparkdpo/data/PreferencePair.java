package dev.sparkdpo.data;

/** One preference: for {@code prompt}, {@code chosen} is preferred over {@code rejected}. Plain text, before normalization or after. */
public record PreferencePair(String prompt, String chosen, String rejected) {}
