# Finds the OpenCV pieces the inference layer needs (core, imgproc, dnn; not imgcodecs: see
# src/codecs/opencv_codecs.h) without
# Debian's libopencv-dev meta-package. Defines the imported target OpenCVDnn::OpenCVDnn with
# SYSTEM include directories.
find_path(OpenCVDnn_INCLUDE_DIR opencv2/dnn.hpp PATH_SUFFIXES opencv4)
find_library(OpenCVDnn_CORE_LIBRARY opencv_core)
find_library(OpenCVDnn_IMGPROC_LIBRARY opencv_imgproc)
find_library(OpenCVDnn_DNN_LIBRARY opencv_dnn)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenCVDnn REQUIRED_VARS OpenCVDnn_INCLUDE_DIR
    OpenCVDnn_CORE_LIBRARY OpenCVDnn_IMGPROC_LIBRARY OpenCVDnn_DNN_LIBRARY)
if(OpenCVDnn_FOUND AND NOT TARGET OpenCVDnn::OpenCVDnn)
    add_library(OpenCVDnn::OpenCVDnn INTERFACE IMPORTED)
    set_target_properties(OpenCVDnn::OpenCVDnn PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${OpenCVDnn_INCLUDE_DIR}"
        INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${OpenCVDnn_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${OpenCVDnn_DNN_LIBRARY};${OpenCVDnn_IMGPROC_LIBRARY};${OpenCVDnn_CORE_LIBRARY}")
endif()
