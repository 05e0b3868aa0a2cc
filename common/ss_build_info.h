/* ss_build_info.h — what this build is: the project's version (CMake's
 * PROJECT_VERSION) and the git commit it was built from ("<12 hex>", with
 * "-dirty" when the work tree had changes; -DSTATSYNC_COMMIT=... when built
 * without git, e.g. in a container; else "unknown"). Generated at build time
 * by common/build_info.cmake into the build directory. */
#ifndef SS_BUILD_INFO_H
#define SS_BUILD_INFO_H

extern const char ss_build_version[];
extern const char ss_build_commit[];

#endif
