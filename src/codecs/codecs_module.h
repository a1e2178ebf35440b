// Opening OpenCV's image codecs module now rather than at the first JPEG, TIFF or saliency PNG
// (opencv_codecs.h): for a process that must know when it starts whether it can do all the work
// it may be given (`medanchor worker`). No OpenCV type here.
#pragma once

#include "common/error.h"

namespace medanchor::codecs {

// Opens the module unless it is open: Ok once it is, else why not (kUnsupported, or kPermission
// for a file others could have written; naming the module and the file). It is tried once per
// process: later calls give the same answer.
Status load_module();

}  // namespace medanchor::codecs
