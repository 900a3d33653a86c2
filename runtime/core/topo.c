#include "topo.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef STRATA_HAVE_HWLOC
#include <hwloc.h>
#endif

void strata_host_topo(strata_host_topo_t *t) {
  memset(t, 0, sizeof *t);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  t->pus = t->cores = n > 0 ? (int)n : 1;
  t->packages = t->numa_nodes = 1;
#ifdef STRATA_HAVE_HWLOC
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) == 0) {
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(topo) == 0) {
      t->from_hwloc = 1;
      t->packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
      t->numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
      t->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
      t->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
      hwloc_obj_t l3 = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L3CACHE, 0);
      if (l3 && l3->attr) t->l3_bytes = (size_t)l3->attr->cache.size;
      hwloc_obj_t l2 = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L2CACHE, 0);
      if (l2 && l2->attr) t->l2_bytes = (size_t)l2->attr->cache.size;
      hwloc_obj_t os = NULL;
      while ((os = hwloc_get_next_osdev(topo, os)) != NULL) {
        int net = os->attr->osdev.type == HWLOC_OBJ_OSDEV_NETWORK || os->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS;
        int gpu = os->attr->osdev.type == HWLOC_OBJ_OSDEV_GPU || os->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC;
        if (!net && !gpu) continue;
        /* the cores next to the device: its first non-I/O ancestor's cpuset */
        char cpus[64] = "?", item[128];
        hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, os);
        if (anc && anc->cpuset) hwloc_bitmap_list_snprintf(cpus, sizeof cpus, anc->cpuset);
        snprintf(item, sizeof item, "%s[%s]", os->name, cpus);
        char *dst = net ? t->nics : t->gpus;
        size_t cap = net ? sizeof t->nics : sizeof t->gpus, len = strlen(dst);
        if (len + strlen(item) + 2 < cap) {
          if (len) strcat(dst, ",");
          strcat(dst, item);
        }
      }
    }
    hwloc_topology_destroy(topo);
  }
#endif
}
