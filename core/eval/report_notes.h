/* The design notes' predictions for `pixeldit report --notes` (internal):
 * loading them, and the page's section that holds each mechanism's
 * measured effect and cost against what the notes predicted. */
#ifndef PD_REPORT_NOTES_H
#define PD_REPORT_NOTES_H

#include <stdio.h>

#include "pixeldit/status.h"
#include "study.h"

/* One mechanism: a [suffix] section of the notes file (mechanism,
 * fid_gain, overhead: free text such as "10–20%", "+5%", "no number"). */
typedef struct {
    char suffix[32], mechanism[96], fid_gain[64], overhead[64];
} prediction;

typedef struct {
    int n;
    prediction p[16];
} predictions;

/* Reads the notes file (NULL path: none, *ps empty); PD_ERR_IO or
 * PD_ERR_CONFIG naming the file and line. */
pd_status report_notes_load(const char *path, predictions *ps);

/* "### Against the design notes": per mechanism with a number in the
 * notes, the relative change of FD at equal steps in each regime with
 * its 95% interval, and whether that interval contradicts, agrees with
 * or cannot yet tell the predicted gain; the step-time overhead against
 * the predicted one. */
void report_notes_section(FILE *md, const study *studies, int n, const predictions *ps);

#endif
