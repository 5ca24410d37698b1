/* `pixeldit report`'s section on runs trained past the study's common
 * step S (internal): per longer run and per multiple of S, its FD, the
 * same seed's baseline FD, the difference at equal steps and at equal
 * compute, on curves smoothed over neighbouring points; and the
 * baseline's plateau criterion on its longest run. */
#ifndef PD_REPORT_LONG_H
#define PD_REPORT_LONG_H

#include <stdio.h>

#include "study.h"

/* Writes nothing when no run goes past S. */
void report_long_table(FILE *md, const study *s, double S);

#endif
