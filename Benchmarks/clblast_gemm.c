// CLBlast side of the GPU check (issue 19): times CLBlast's SGEMM at the encoder's GEMM shapes and its
// strided-batched SGEMM at the attention products' shapes, on the same OpenCL device and with the same
// event timing as `featurize bench-gemm`, so the two can be printed side by side.
//
//   clblast_gemm [--device N] [--tokens M] [--hidden H[,H...]] [--batch B --seq S --heads A]
//                [--repetitions R] [--warmup W]
//
// --device N counts OpenCL devices over all platforms in platform order, as `featurize devices` numbers
// them (opencl:N). GEMM shapes per hidden size H, as `featurize bench-gemm`: rows M, K -> N for
// QKV (H -> 3H), attention output (H -> H), FFN up (H -> 4H) and down (4H -> H); row-major A [M, K]
// times Bᵀ with B [N, K] (a `linear` layer's weight), C [M, N]. Attention: for each of B x A heads,
// scores = Q · Kᵀ ([S, d] x [S, d]ᵀ, d = H / A) and context = P · V ([S, S] x [S, d]): 4 B A S² d FLOP.
// CLBlast does no softmax, so its attention time is a lower bound of what an unfused path costs.
// Prints one line per shape: "clblast <what> <shape>: <median ms> ms, <GFLOP/s> GFLOP/s".
// Build: cc -O2 -o clblast_gemm Benchmarks/clblast_gemm.c -lclblast -lOpenCL   (Debian: libclblast-dev)
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, long code) {
    fprintf(stderr, "clblast_gemm: %s failed (%ld)\n", what, code);
    return 1;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double event_seconds(cl_event event) {
    cl_ulong start = 0, end = 0;
    clWaitForEvents(1, &event);
    clGetEventProfilingInfo(event, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL);
    clGetEventProfilingInfo(event, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
    clReleaseEvent(event);
    return (double)(end - start) * 1e-9;
}

static cl_mem random_buffer(cl_context context, cl_command_queue queue, size_t count, unsigned *seed) {
    float *host = malloc(count * sizeof(float));
    if (!host) return NULL;
    for (size_t i = 0; i < count; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        host[i] = ((float)(*seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
    }
    cl_int err = CL_SUCCESS;
    cl_mem buffer = clCreateBuffer(context, CL_MEM_READ_WRITE, count * sizeof(float), NULL, &err);
    if (err == CL_SUCCESS) err = clEnqueueWriteBuffer(queue, buffer, CL_TRUE, 0, count * sizeof(float), host, 0, NULL, NULL);
    free(host);
    return err == CL_SUCCESS ? buffer : NULL;
}

typedef struct { cl_context context; cl_command_queue queue; int warmup, repetitions; } Bench;

// Median seconds of one GEMM (or strided-batched GEMM when batch > 1) over the timed repetitions.
static int time_gemm(Bench *b, size_t m, size_t n, size_t k, size_t batch, int transposeB, double *median) {
    unsigned seed = 42;
    cl_mem a = random_buffer(b->context, b->queue, m * k * batch, &seed);
    cl_mem w = random_buffer(b->context, b->queue, n * k * batch, &seed);
    cl_mem c = random_buffer(b->context, b->queue, m * n * batch, &seed);
    if (!a || !w || !c) return fail("buffer allocation", 0);
    int total = b->warmup + b->repetitions;
    double *times = calloc((size_t)total, sizeof(double));
    int status = 0;
    for (int r = 0; r < total && status == 0; r++) {
        cl_event event = NULL;
        CLBlastStatusCode code;
        size_t ldb = transposeB ? k : n;
        if (batch == 1) {
            code = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, transposeB ? CLBlastTransposeYes : CLBlastTransposeNo,
                                m, n, k, 1.0f, a, 0, k, w, 0, ldb, 0.0f, c, 0, n, &b->queue, &event);
        } else {
            code = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                              transposeB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, 1.0f,
                                              a, 0, k, m * k, w, 0, ldb, n * k, 0.0f, c, 0, n, m * n, batch,
                                              &b->queue, &event);
        }
        if (code != CLBlastSuccess) { status = fail("CLBlast GEMM", code); break; }
        times[r] = event_seconds(event);
    }
    if (status == 0) {
        qsort(times + b->warmup, (size_t)b->repetitions, sizeof(double), compare_double);
        *median = times[b->warmup + b->repetitions / 2];
    }
    free(times);
    clReleaseMemObject(a); clReleaseMemObject(w); clReleaseMemObject(c);
    return status;
}

int main(int argc, char **argv) {
    int device_index = 0, tokens = 4096, batch = 128, seq = 128, heads = 12;
    Bench bench = {0};
    bench.warmup = 3; bench.repetitions = 7;
    char hidden_list[256] = "384,768";
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) { fprintf(stderr, "clblast_gemm: %s needs a value\n", argv[i]); return 64; }
        if (!strcmp(argv[i], "--device")) device_index = atoi(value);
        else if (!strcmp(argv[i], "--tokens")) tokens = atoi(value);
        else if (!strcmp(argv[i], "--hidden")) snprintf(hidden_list, sizeof hidden_list, "%s", value);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(value);
        else if (!strcmp(argv[i], "--seq")) seq = atoi(value);
        else if (!strcmp(argv[i], "--heads")) heads = atoi(value);
        else if (!strcmp(argv[i], "--repetitions")) bench.repetitions = atoi(value);
        else if (!strcmp(argv[i], "--warmup")) bench.warmup = atoi(value);
        else { fprintf(stderr, "clblast_gemm: unknown option %s\n", argv[i]); return 64; }
        i++;
    }
    if (tokens < 1 || batch < 1 || seq < 1 || heads < 1 || bench.repetitions < 1 || bench.warmup < 0) {
        fprintf(stderr, "clblast_gemm: sizes and --repetitions must be positive\n");
        return 64;
    }
    cl_uint platform_count = 0;
    if (clGetPlatformIDs(0, NULL, &platform_count) != CL_SUCCESS || platform_count == 0) return fail("no OpenCL platform", 0);
    cl_platform_id platforms[16];
    clGetPlatformIDs(platform_count > 16 ? 16 : platform_count, platforms, NULL);
    cl_device_id device = NULL;
    int seen = 0;
    for (cl_uint p = 0; p < platform_count && p < 16 && !device; p++) {
        cl_uint count = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &count) != CL_SUCCESS) continue;
        cl_device_id ids[64];
        clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, count > 64 ? 64 : count, ids, NULL);
        for (cl_uint d = 0; d < count && d < 64; d++, seen++)
            if (seen == device_index) { device = ids[d]; break; }
    }
    if (!device) { fprintf(stderr, "clblast_gemm: no OpenCL device %d (%d found)\n", device_index, seen); return 1; }
    char name[256] = "";
    clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof name, name, NULL);
    cl_int err = CL_SUCCESS;
    bench.context = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    if (err != CL_SUCCESS) return fail("clCreateContext", err);
    bench.queue = clCreateCommandQueue(bench.context, device, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) return fail("clCreateCommandQueue", err);
    printf("clblast on opencl:%d %s (CLBlast %s tuning database; event timing, median of %d after %d warm-up)\n",
           device_index, name, "built-in", bench.repetitions, bench.warmup);
    int status = 0;
    for (char *save = NULL, *item = strtok_r(hidden_list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        size_t h = (size_t)atoi(item);
        if (h == 0) { fprintf(stderr, "clblast_gemm: bad hidden size '%s'\n", item); return 64; }
        size_t shapes[4][2] = {{h, 3 * h}, {h, h}, {h, 4 * h}, {4 * h, h}};  // {K, N}
        for (int s = 0; s < 4; s++) {
            size_t k = shapes[s][0], n = shapes[s][1];
            double median = 0;
            if (time_gemm(&bench, (size_t)tokens, n, k, 1, 1, &median)) { status = 1; continue; }
            printf("clblast sgemm M=%d N=%zu K=%zu: %.3f ms, %.0f GFLOP/s\n", tokens, n, k, median * 1e3,
                   2.0 * tokens * n * k / median / 1e9);
        }
        if (h % (size_t)heads == 0) {
            size_t d = h / (size_t)heads, heads_total = (size_t)batch * (size_t)heads, s = (size_t)seq;
            double scores = 0, context = 0;
            if (time_gemm(&bench, s, s, d, heads_total, 1, &scores) || time_gemm(&bench, s, d, s, heads_total, 0, &context)) {
                status = 1;
                continue;
            }
            double flops = 4.0 * (double)heads_total * (double)s * (double)s * (double)d;
            printf("clblast attention-gemms batch %d seq %d heads %d headDim %zu: %.3f ms, %.0f GFLOP/s (Q·Kᵀ %.3f ms + P·V %.3f ms, no softmax)\n",
                   batch, seq, heads, d, (scores + context) * 1e3, flops / (scores + context) / 1e9, scores * 1e3, context * 1e3);
        }
    }
    clReleaseCommandQueue(bench.queue);
    clReleaseContext(bench.context);
    return status;
}
