// A loadable module for loadable_module_test.cpp: one entry point with a C name.
extern "C" __attribute__((visibility("default"))) int medanchor_test_module_answer() {
    return 42;
}
