// core: the vocabulary every part of Sluice shares — Status/Result, time,
// the canonical Event and its log encoding, byte coding, the data-directory
// lock. It depends on nothing else in Sluice.
//
// Threading: value types and pure functions; DataDirLock is per process.
#pragma once

#include "core/coding.h"
#include "core/data_dir.h"
#include "core/event.h"
#include "core/status.h"
#include "core/time.h"
