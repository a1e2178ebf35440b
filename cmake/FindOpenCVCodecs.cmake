# Finds the OpenCV pieces for images without Debian's libopencv-dev meta-package, which drags in
# every OpenCV module. Defines the imported targets OpenCVCodecs::Core (opencv_core: cv::Mat) and
# OpenCVCodecs::Imgcodecs (opencv_imgcodecs, linked only by the codecs module,
# src/codecs/CMakeLists.txt), with SYSTEM include directories.
find_path(OpenCVCodecs_INCLUDE_DIR opencv2/imgcodecs.hpp PATH_SUFFIXES opencv4)
find_library(OpenCVCodecs_CORE_LIBRARY opencv_core)
find_library(OpenCVCodecs_IMGCODECS_LIBRARY opencv_imgcodecs)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenCVCodecs REQUIRED_VARS OpenCVCodecs_INCLUDE_DIR
    OpenCVCodecs_CORE_LIBRARY OpenCVCodecs_IMGCODECS_LIBRARY)
if(OpenCVCodecs_FOUND AND NOT TARGET OpenCVCodecs::Core)
    add_library(OpenCVCodecs::Core INTERFACE IMPORTED)
    set_target_properties(OpenCVCodecs::Core PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${OpenCVCodecs_INCLUDE_DIR}"
        INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${OpenCVCodecs_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${OpenCVCodecs_CORE_LIBRARY}")
    add_library(OpenCVCodecs::Imgcodecs INTERFACE IMPORTED)
    set_target_properties(OpenCVCodecs::Imgcodecs PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${OpenCVCodecs_INCLUDE_DIR}"
        INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${OpenCVCodecs_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${OpenCVCodecs_IMGCODECS_LIBRARY};${OpenCVCodecs_CORE_LIBRARY}")
endif()
