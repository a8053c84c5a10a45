# Writes OUTPUT, a C++ source defining `extern const char NAME[]` with the bytes of INPUT and a
# terminating NUL. Run at build time: cmake -DINPUT=... -DOUTPUT=... -DNAME=... -P embed_file.cmake
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}\nextern const char ${NAME}[];\nconst char ${NAME}[] = {${bytes}0};\n")
