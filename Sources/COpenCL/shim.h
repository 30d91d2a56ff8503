#ifndef FEATURIZE_COPENCL_SHIM_H
#define FEATURIZE_COPENCL_SHIM_H
/* OpenCL 1.2 API only: every vendor implements it, and no deprecation warnings. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <CL/cl_ext.h>
#endif
