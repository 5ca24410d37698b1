/* The one rule for reading a value's text as a number or a bool, shared by
 * the core config keys (config_value.c) and the plugin keys
 * (core/plugin/plugin_values.c), so `train.lr` and `decoder.width` accept
 * and refuse the same texts:
 *
 * - the whole text is the value: no leading whitespace (the INI reader and
 *   --set trim values before they get here) and nothing after it;
 * - integers are decimal; one outside `long` is refused (not clamped);
 * - numbers are strtod's; an overflow, inf or nan is refused, an underflow
 *   reads as the nearest representable value (0 or a subnormal);
 * - bools are true/false, yes/no, on/off, 1/0, in any case.
 *
 * A field narrower than long (a core int key) checks its own range after. */
#ifndef PD_VALUE_TEXT_H
#define PD_VALUE_TEXT_H

#include <stdbool.h>

bool pd_text_to_long(const char *text, long *out);
bool pd_text_to_double(const char *text, double *out);
bool pd_text_to_bool(const char *text, bool *out);

#endif
