package storetest

import "runtime"

func runtimeGC() { runtime.GC() }
