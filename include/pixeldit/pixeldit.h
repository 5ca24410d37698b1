/* pixeldit/pixeldit.h - umbrella header for programs and plugins. */
#ifndef PIXELDIT_H
#define PIXELDIT_H
#include "pixeldit/status.h"
#include "pixeldit/tensor.h"
#include "pixeldit/ops.h"
#include "pixeldit/params.h"
#include "pixeldit/rng.h"
#include "pixeldit/runtime.h"
#include "pixeldit/gradcheck.h"
#endif
