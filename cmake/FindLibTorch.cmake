# Finds LibTorch's C++ API for loading and running TorchScript (Debian's libtorch-dev 1.13)
# without its TorchConfig.cmake, which drags in the whole Caffe2 build configuration (protobuf,
# glog, gflags, Python) to define what three libraries and two include directories provide.
# Defines the imported target LibTorch::LibTorch with SYSTEM include directories; only the
# inference layer links it, and only src/inference/torch_engine.cpp includes its headers.
find_path(LibTorch_INCLUDE_DIR torch/script.h)
find_path(LibTorch_API_INCLUDE_DIR torch/all.h PATH_SUFFIXES torch/csrc/api/include)
find_library(LibTorch_TORCH_LIBRARY torch)
find_library(LibTorch_TORCH_CPU_LIBRARY torch_cpu)
find_library(LibTorch_C10_LIBRARY c10)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibTorch REQUIRED_VARS LibTorch_INCLUDE_DIR
    LibTorch_API_INCLUDE_DIR LibTorch_TORCH_LIBRARY LibTorch_TORCH_CPU_LIBRARY
    LibTorch_C10_LIBRARY)
if(LibTorch_FOUND AND NOT TARGET LibTorch::LibTorch)
    add_library(LibTorch::LibTorch INTERFACE IMPORTED)
    set_target_properties(LibTorch::LibTorch PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${LibTorch_INCLUDE_DIR};${LibTorch_API_INCLUDE_DIR}"
        INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${LibTorch_INCLUDE_DIR};${LibTorch_API_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${LibTorch_TORCH_LIBRARY};${LibTorch_TORCH_CPU_LIBRARY};${LibTorch_C10_LIBRARY}")
endif()
